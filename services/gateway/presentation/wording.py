"""What people are told when a code is refused, or an edit conflicts: one wording for the
API and the pages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

REFUSALS: dict[str, tuple[str, str]] = {
    "invalid": (
        "invalid_code",
        "That code is not right. Use the code your authenticator app "
        "shows for this account and try again.",
    ),
    "expired": (
        "expired_code",
        "That code has expired. Wait for the next code in your authenticator app, then try again.",
    ),
    "reused": (
        "reused_code",
        "That code has already been used. Wait for the next code, then try again.",
    ),
}


# A passkey's refusals: the browser signed, but not for this sign-in.
PASSKEY_REFUSALS: dict[str, tuple[str, str]] = {
    "invalid": (
        "passkey_refused",
        "That passkey did not sign in. Use a passkey you registered for this account, "
        "on this site, and try again.",
    ),
    "expired": ("passkey_refused", "This passkey request has expired. Start again."),
    "reused": (
        "passkey_refused",
        "That passkey answer was already used. Try again: your device signs a new one.",
    ),
    "possibly_cloned": (
        "possibly_cloned",
        "This passkey may have been copied, so it was refused. Use another passkey or "
        "your authenticator app, and tell your administrator.",
    ),
}


# A recovery code's refusal: never about the app (issue 23).
RECOVERY_REFUSALS: dict[str, tuple[str, str]] = {
    "invalid": (
        "invalid_code",
        "That recovery code is not right, or it was used already. Each of your saved "
        "codes works once: check it and try another.",
    ),
}


def refusal_wording(kind: str, reason: str) -> tuple[str, str]:
    """The refusal's code for programs and its sentence for people."""
    if kind == "passkey":
        return PASSKEY_REFUSALS.get(reason, PASSKEY_REFUSALS["invalid"])
    if kind == "recovery_code":
        return RECOVERY_REFUSALS.get(reason, RECOVERY_REFUSALS["invalid"])
    return REFUSALS.get(reason, REFUSALS["invalid"])


def minutes_until(when: datetime, now: datetime) -> str:
    """How long until ``when``, in whole minutes rounded up: "in 12 minutes"."""
    minutes = max(1, math.ceil((when - now).total_seconds() / 60))
    return f"in {minutes} minute{'' if minutes == 1 else 's'}"


def minute_after(when: datetime) -> datetime:
    """``when`` rounded up to the minute: "try again at 13:41" is never too early."""
    floor = when.replace(second=0, microsecond=0)
    return floor if floor == when else floor + timedelta(minutes=1)


def locked_message(until: datetime | None) -> str:
    when = until.strftime("%H:%M UTC") if until else "later"
    return f"Too many failed attempts. You can try again after {when}."


def policy_change(seen: Mapping[str, Any] | None, now: Mapping[str, Any]) -> str:
    """What changed in a policy since the version an editor saw, in a sentence."""
    if seen is None:
        return f"It is now version {now['version']}."
    parts = []
    if seen["all_users"] != now["all_users"]:
        parts.append(f"all users turned {'on' if now['all_users'] else 'off'}")
    for field, label in (("user_types", "user types"), ("users", "listed users")):
        added = sorted(set(now[field]) - set(seen[field]))
        removed = sorted(set(seen[field]) - set(now[field]))
        if added:
            parts.append(f"{label} added: {', '.join(added[:5])}{' ...' if len(added) > 5 else ''}")
        if removed:
            shown = ", ".join(removed[:5]) + (" ..." if len(removed) > 5 else "")
            parts.append(f"{label} removed: {shown}")
    days = (seen.get("remember_device_days", 0), now.get("remember_device_days", 0))
    if days[0] != days[1]:
        parts.append(f"remembered devices {(days[1] and f'{days[1]} days') or 'off'}")
    changes = "; ".join(parts) or "the same rules, saved again"
    return f"It changed from version {seen['version']} to {now['version']}: {changes}."
