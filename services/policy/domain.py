"""Policy resolution: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reason = Literal["all_users", "user_type", "user", "not_applicable"]


@dataclass(frozen=True)
class PolicySnapshot:
    """What one decision needs to know of the current policy."""

    all_users: bool
    user_types: frozenset[str]
    lists_user: bool  # the user's id or e-mail is among the individually enabled users
    version: int


@dataclass(frozen=True)
class Decision:
    mfa_required: bool
    reason: Reason


def decide(policy: PolicySnapshot, user_type: str) -> Decision:
    """MFA applies if any of the three settings covers the user; the most specific wins."""
    if policy.lists_user:
        return Decision(True, "user")
    if user_type in policy.user_types:
        return Decision(True, "user_type")
    if policy.all_users:
        return Decision(True, "all_users")
    return Decision(False, "not_applicable")


def user_keys(user_id: str, email: str) -> list[str]:
    """Identifiers as listed in a policy: ids and e-mails match case-insensitively."""
    return [user_id.casefold(), email.casefold()]
