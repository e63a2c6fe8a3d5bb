"""What people are told when a code is refused: one wording for the API and the pages."""

from __future__ import annotations

from datetime import datetime

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


def locked_message(until: datetime | None) -> str:
    when = until.strftime("%H:%M UTC") if until else "later"
    return f"Too many failed attempts. You can try again after {when}."
