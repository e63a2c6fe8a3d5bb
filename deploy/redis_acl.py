"""One Redis user per service, allowed only what that service reads and writes.

Without this, anyone who can write to Redis (any service, any leaked URL) could add a
CodeVerified entry to ``mfa.code.verified`` and sign a login in. With it, only the
verification service's user may add to that stream. Redis 7 ACL selectors pair each
command with the keys it may touch: a service may XADD to the streams it produces,
read (XREADGROUP, XACK, ...) the streams it consumes, beat its own heartbeat key;
the gateway may also publish on its wake-up channel, read heartbeats and keep its
rate limits. The streams come from the services' own wiring (their brokers'
subscribers and publishers), so the rules cannot drift from the code.

    python -m deploy.redis_acl write FILE
        an ACL file for redis-server --aclfile, passwords from MFA_REDIS_ADMIN_PASSWORD
        and MFA_REDIS_PASSWORD_<SERVICE> (docker-compose runs this)
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.enrollment.app import create_app as enrollment_app
from services.enrollment.settings import EnrollmentSettings
from services.gateway.app import create_app as gateway_app
from services.gateway.settings import GatewaySettings
from services.policy.app import create_app as policy_app
from services.policy.settings import PolicySettings
from services.verification.app import create_app as verification_app
from services.verification.settings import VerificationSettings
from shared import streams

SERVICES = ("policy", "enrollment", "verification", "gateway")
_CONNECTION = "+ping +echo +hello +auth +select +quit +reset +client|setname"
_CONSUME = (
    "+xreadgroup +xack +xautoclaim +xclaim +xgroup|create +xinfo|groups +xpending +xlen +xtrim"
)


@dataclass(frozen=True)
class Access:
    consumed: frozenset[str]
    produced: frozenset[str]
    channels: frozenset[str]


def _broker(service: str, prefix: str) -> Any:
    """The service's broker as its factory wires it (building it does no I/O)."""
    if service == "gateway":
        return gateway_app(GatewaySettings(stream_prefix=prefix)).state.gateway.broker
    factories = {
        "policy": lambda: policy_app(PolicySettings(stream_prefix=prefix)),
        "enrollment": lambda: enrollment_app(EnrollmentSettings(stream_prefix=prefix)),
        "verification": lambda: verification_app(VerificationSettings(stream_prefix=prefix)),
    }
    return factories[service]().broker


def access_of(service: str, prefix: str) -> Access:
    broker = _broker(service, prefix)
    consumed = {s.stream_sub.name for s in broker.subscribers if hasattr(s, "stream_sub")}
    produced = {p.stream.name for p in broker.publishers if hasattr(p, "stream")}
    channels = {
        c.channel.name
        for c in [*broker.subscribers, *broker.publishers]
        if getattr(c, "channel", None) is not None
    }
    produced.add(prefix + streams.DEAD_LETTER)  # any service parks what it cannot read
    return Access(frozenset(consumed), frozenset(produced), frozenset(channels))


def _keys(names: frozenset[str] | set[str]) -> str:
    return " ".join(f"~{name}" for name in sorted(names))


def user_rules(service: str, prefix: str, access: Access) -> list[str]:
    """The ACL rules of a service's user, password aside."""
    heartbeat = prefix + f"mfa.heartbeat.{service}"
    rules = [
        "resetkeys",
        "resetchannels",
        "-@all",
        *_CONNECTION.split(),
        f"({_keys(access.consumed)} {_CONSUME})",
        f"({_keys(access.produced)} +xadd)",
        f"(~{heartbeat} +zadd +zremrangebyscore +zrange +zrem)",
    ]
    if access.channels:
        channels = " ".join(f"&{c}" for c in sorted(access.channels))
        rules.append(f"({channels} +publish +subscribe +unsubscribe)")
    if service == "gateway":  # readiness reads every heartbeat; sign-in and code limits
        namespace = prefix or "mfa"
        rules += [
            f"(~{prefix}mfa.heartbeat.* +zcount)",
            "+script|load",
            f"(~LIMITS:LIMITER/{namespace}/* +evalsha +eval +lindex +lpush +ltrim +expire +ttl"
            " +incr +decr +del +get)",
        ]
    return rules


def acl_file(passwords: dict[str, str], admin_password: str, prefix: str = "") -> str:
    """An ACL file: the admin (Redis's default user, password required) and one user per
    service. It holds SHA-256 hashes of the passwords, never the passwords."""
    lines = [f"user default on #{_sha256(admin_password)} ~* &* +@all"]
    for service in SERVICES:
        rules = " ".join(user_rules(service, prefix, access_of(service, prefix)))
        lines.append(f"user {service} on #{_sha256(passwords[service])} {rules}")
    return "\n".join(lines) + "\n"


def _sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def main() -> None:
    if sys.argv[1:2] != ["write"] or len(sys.argv) != 3:
        raise SystemExit("usage: python -m deploy.redis_acl write FILE")
    try:
        admin = os.environ["MFA_REDIS_ADMIN_PASSWORD"]
        passwords = {s: os.environ[f"MFA_REDIS_PASSWORD_{s.upper()}"] for s in SERVICES}
    except KeyError as missing:
        raise SystemExit(f"{missing.args[0]} is not set") from None
    prefix = os.environ.get("MFA_STREAM_PREFIX", "")
    Path(sys.argv[2]).write_text(acl_file(passwords, admin, prefix))  # hashes only


if __name__ == "__main__":
    main()
