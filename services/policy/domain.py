"""Policy resolution: pure rules, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from shared.events import AuthenticatorKind, DecisionReason, PolicyRules
from shared.identity import fold


@dataclass(frozen=True)
class PolicySnapshot:
    """What one decision needs to know of an organization's current policy."""

    all_users: bool
    user_types: frozenset[str]
    lists_user: bool  # the user's id or e-mail is among the individually enabled users
    version: int
    rules: PolicyRules = field(default_factory=PolicyRules)  # passkeys (lists not read)
    lists_user_for_passkey: bool = False  # listed among the users who need a passkey


@dataclass(frozen=True)
class Decision:
    mfa_required: bool
    reason: DecisionReason  # the contract's words, as LoginDecided carries them
    kinds: tuple[AuthenticatorKind, ...] = ("passkey", "totp")  # what the user may use


def decide(policy: PolicySnapshot, user_type: str, required_by_caller: bool = False) -> Decision:
    """MFA applies if any of the three settings covers the user; the most specific wins.
    A user who must use a passkey is covered whatever the other settings say, and may
    use nothing else (a code can be phished; a passkey cannot).

    A caller may require MFA whatever the policy says (the admin console does).
    """
    rules = policy.rules
    if rules.requires_passkey_of(user_type, policy.lists_user_for_passkey):
        reason: DecisionReason = (
            "user"
            if policy.lists_user_for_passkey
            else "user_type"
            if user_type in rules.require_passkey_user_types
            else "all_users"
        )
        return Decision(True, reason, ("passkey",))
    kinds = rules.allowed_kinds
    if policy.lists_user:
        return Decision(True, "user", kinds)
    if user_type in policy.user_types:
        return Decision(True, "user_type", kinds)
    if policy.all_users:
        return Decision(True, "all_users", kinds)
    if required_by_caller:
        return Decision(True, "required_by_caller", kinds)
    return Decision(False, "not_applicable", kinds)


def listing_key(entry: str) -> str:
    """How a listed user id or e-mail is compared: shared.identity's folding."""
    return fold(entry)


def user_keys(user_id: str, email: str) -> list[str]:
    """The keys under which a user may be listed: their canonical id and e-mail."""
    return [listing_key(user_id), listing_key(email)]


@dataclass(frozen=True)
class Update:
    """What to do with a policy update: apply it as ``version``, answer as before (it was
    applied as ``version``), or refuse it (the policy is at ``version`` now)."""

    kind: Literal["apply", "already", "conflict"]
    version: int


def judge_update(
    current_version: int,
    recent_events: Mapping[str, int],
    event_id: str,
    expected_version: int | None,
    requested_at: datetime,
    current_requested_at: datetime | None,
) -> Update:
    """Updates apply once, in the order they were requested, and only over the version
    their editor saw, if they name one. One requested before the current version (a copy
    the gateway sent again, overtaken meanwhile) is refused, never applied over it."""
    if event_id in recent_events:
        return Update("already", recent_events[event_id])
    if expected_version is not None and expected_version != current_version:
        return Update("conflict", current_version)
    if current_requested_at is not None and requested_at < current_requested_at:
        return Update("conflict", current_version)
    return Update("apply", current_version + 1)


def remember_event(
    recent_events: Mapping[str, int], event_id: str, version: int, keep: int = 100
) -> dict[str, int]:
    """The updates to recognise when delivered again: the last ``keep`` applied."""
    kept = list(recent_events.items())[-(keep - 1) :] if keep > 1 else []
    return {**dict(kept), event_id: version}
