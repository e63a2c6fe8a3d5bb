"""Verification alone: how many code checks a process answers per second.

    python -m bench.verification --users 10000 --processes 1
    python -m bench.verification --users 10000 --processes 2

Redis and the embedded FerretDB (or MONGODB_URL) start as for ``make run``; ``--users``
authenticators are written through verification's own store. Just after a 30-second
step begins, one valid ``mfa.code.submitted`` per user is put on the stream (sealed as
the gateway seals it), and only then do ``--processes`` verification processes start:
the backlog is the load. Every answer on ``mfa.code.verified`` / ``mfa.code.rejected``
is counted; the rate runs from the first answer to the last (Redis entry ids carry the
time they were written). Reported with the outcomes, CPU per check by process and
database requests per check by command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
from faststream.redis import RedisBroker
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bench.closedloop import STEP_SECONDS
from bench.compare import cpu_seconds, database_requests
from bench.population import bench_stack
from deploy.localstack import LocalStack
from deploy.processes import free_port
from services.enrollment.domain import new_secret
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared import streams
from shared.crypto import SecretBox, code_context, credential_context
from shared.events import CodeSubmitted
from shared.identity import DEFAULT_ORGANIZATION, UserRef
from shared.mongo import Document

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 64


def _settings(stack: LocalStack) -> VerificationSettings:
    """Verification's settings as the stack starts it: its database, its keys."""
    env = stack.env
    return VerificationSettings(
        mongodb_url=env["MFA_MONGODB_URL"], database_prefix=env["MFA_DATABASE_PREFIX"]
    )


async def seed(stack: LocalStack, count: int) -> dict[UserRef, tuple[str, str]]:
    """``count`` registered authenticators: user -> (credential id, secret)."""
    settings = _settings(stack)
    url = settings.mongodb_url.get_secret_value()
    client: AsyncMongoClient[Document] = AsyncMongoClient(url, tz_aware=True)
    store, box = AuthenticatorStore(client[settings.database]), SecretBox(settings.keyring)
    now = datetime.now(UTC)
    users: dict[UserRef, tuple[str, str]] = {}

    async def register(n: int) -> None:
        user, credential_id = UserRef(DEFAULT_ORGANIZATION, f"v-{n}"), f"c-{n}"
        secret = new_secret()
        sealed = box.seal(secret, credential_context(user, credential_id))
        assert await store.register(user, credential_id, sealed, now)
        users[user] = (credential_id, secret)

    try:
        for start in range(0, count, BATCH):
            await asyncio.gather(*(register(n) for n in range(start, min(count, start + BATCH))))
    finally:
        await client.close()
    return users


async def fill(stack: LocalStack, users: dict[UserRef, tuple[str, str]]) -> None:
    """One valid submission per user on mfa.code.submitted, as the gateway sends it."""
    box = SecretBox(_settings(stack).keyring)
    broker = RedisBroker(stack.env["MFA_REDIS_URL"])
    stream = f"{stack.env['MFA_STREAM_PREFIX']}{streams.CODE_SUBMITTED}"
    await broker.connect()
    try:
        for user, (credential_id, secret) in users.items():
            login_id, submission_id = uuid.uuid4().hex, uuid.uuid4().hex
            code = pyotp.TOTP(secret).now()
            event = CodeSubmitted(
                occurred_at=datetime.now(UTC),
                correlation_id=login_id,
                organization_id=user.organization_id,
                login_id=login_id,
                submission_id=submission_id,
                user_id=user.user_id,
                credential_id=credential_id,
                purpose="login",
                code=box.seal(code, code_context(login_id, submission_id)),
            )
            await broker.publish(event, stream=stream, correlation_id=login_id)
    finally:
        await broker.stop()


class Answers:
    """The answers on mfa.code.verified and mfa.code.rejected, watched as they come."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.names = [f"{prefix}{streams.CODE_VERIFIED}", f"{prefix}{streams.CODE_REJECTED}"]

    async def counts(self) -> list[int]:
        return [await self.redis.xlen(name) for name in self.names]

    async def until(self, done: Callable[[int], bool], within: float) -> list[int]:
        """The counts once ``done(total)`` holds, or when ``within`` seconds run out."""
        deadline = time.monotonic() + within
        # Polled: the answers are another process's writes.
        while not done(sum(counts := await self.counts())) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return counts

    async def first_to_last_seconds(self) -> float:
        """From the first answer written to the last (entry ids are millisecond times)."""
        edges: list[int] = []
        for name in self.names:
            first, last = self.redis.xrange(name, count=1), self.redis.xrevrange(name, count=1)
            for entries in (await first, await last):
                edges += [_milliseconds(entry_id) for entry_id, _ in entries or []]
        return (max(edges) - min(edges)) / 1000 if edges else float("nan")


def _milliseconds(entry_id: bytes | str | None) -> int:
    """When Redis wrote an entry: the first part of its id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-")[0])


def counters(stack: LocalStack, pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds by process and, with the embedded store, its requests by command."""
    found = {f"cpu:{name}": cpu_seconds(pid) for name, pid in pids.items()}
    if stack.database_metrics_port:
        metrics = f"http://127.0.0.1:{stack.database_metrics_port}/debug/metrics"
        found |= database_requests(metrics)
    return found


async def measure(stack: LocalStack, args: argparse.Namespace) -> dict[str, Any]:
    users = await seed(stack, args.users)
    await asyncio.sleep(STEP_SECONDS - time.time() % STEP_SECONDS + 0.2)  # a fresh step
    filled_at = time.monotonic()
    await fill(stack, users)
    fill_seconds = time.monotonic() - filled_at
    children = [stack.start_service("verification", replica=n) for n in range(args.processes)]
    pids = {child.name: child.pid for child in children}
    if "mongodb" in stack.children:
        pids["mongodb"] = stack.children["mongodb"].pid
    redis = Redis.from_url(stack.env["MFA_REDIS_URL"])
    watch = Answers(redis, stack.env["MFA_STREAM_PREFIX"])
    try:
        # Costs are counted from the first answer: process start-up is not a check.
        early = sum(await watch.until(lambda answered: answered > 0, within=60))
        before = counters(stack, pids)
        verified, rejected = await watch.until(lambda answered: answered >= len(users), 120)
        after = counters(stack, pids)
        seconds = await watch.first_to_last_seconds()
    finally:
        await redis.aclose()
    checks = verified + rejected
    counted = max(checks - early, 1)
    return {
        "users": len(users),
        "processes": args.processes,
        "fill_seconds": round(fill_seconds, 1),
        "verified": verified,
        "rejected": rejected,
        "first_to_last_seconds": seconds,
        "checks_per_second": round(checks / seconds, 1),
        "checks_per_second_per_process": round(checks / seconds / args.processes, 1),
        "cpu_ms_per_check": {
            key.removeprefix("cpu:"): round((value - before[key]) * 1000 / counted, 3)
            for key, value in after.items()
            if key.startswith("cpu:")
        },
        "database_requests_per_check": {
            key.removeprefix("db:"): round((value - before.get(key, 0)) / counted, 2)
            for key, value in after.items()
            if key.startswith("db:") and value > before.get(key, 0)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000, help="one submission each")
    parser.add_argument("--processes", type=int, default=1, help="verification processes")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        stack = bench_stack(Path(workdir), "verify")
        if "MONGODB_URL" not in os.environ:
            stack.database_metrics_port = free_port()
        try:
            stack.ensure_redis()
            stack.ensure_mongodb()
            figures = asyncio.run(measure(stack, args))
        finally:
            stack.stop()
            if args.logs:
                shutil.copytree(Path(workdir) / "logs", args.logs, dirs_exist_ok=True)
    report = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        **figures,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"verification-{args.processes}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
