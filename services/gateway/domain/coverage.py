"""Coverage for administrators: who MFA has seen, whether it applies to them, and how
far each got (pure rules over the gateway's read models)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from services.gateway.domain.snapshots import AuthenticatorRecord, Source

# awaiting_first_use: imported, to be confirmed by the user's first accepted code.
Enrollment = Literal["not_enrolled", "qr_offered", "awaiting_first_use", "enrolled", "locked"]
ENROLLMENT_STATES: tuple[Enrollment, ...] = (
    "not_enrolled",
    "qr_offered",
    "awaiting_first_use",
    "enrolled",
    "locked",
)
UNKNOWN_TYPE = "(unknown)"


@dataclass(frozen=True)
class UserCoverage:
    user_id: str
    email: str
    user_type: str
    mfa_required: bool
    enrollment: Enrollment
    locked_until: datetime | None
    recovery_codes_left: int | None
    step_offset: int | None
    last_decided_at: datetime
    # What the user signs in with: "passkey", "totp", both (space separated), or "".
    authenticators: str = ""
    passkeys: int = 0
    source: Source | None = None  # None: no authenticator yet


def enrollment_of(authenticator: AuthenticatorRecord | None, now: datetime) -> Enrollment:
    if authenticator is None:
        return "not_enrolled"
    if authenticator.locked(now):
        return "locked"
    if authenticator.confirmed_at:
        return "enrolled"
    return "awaiting_first_use" if authenticator.source == "imported" else "qr_offered"


def coverage_of(
    user: Mapping[str, Any], authenticator: AuthenticatorRecord | None, now: datetime
) -> UserCoverage:
    enrollment = enrollment_of(authenticator, now)
    return UserCoverage(
        user_id=user["user_id"],
        email=user["email"],
        user_type=user.get("user_type") or UNKNOWN_TYPE,
        mfa_required=bool(user["mfa_required"]),
        enrollment=enrollment,
        locked_until=authenticator.locked_until
        if authenticator and enrollment == "locked"
        else None,
        recovery_codes_left=authenticator.recovery_codes_left if authenticator else None,
        step_offset=authenticator.step_offset if authenticator else None,
        last_decided_at=user["decided_at"],
        authenticators=" ".join(authenticator.kinds) if authenticator else "",
        passkeys=len(authenticator.passkeys) if authenticator else 0,
        source=authenticator.source if authenticator else None,
    )


def counts_by_type(users: Iterable[UserCoverage]) -> dict[str, dict[str, int]]:
    """Per user type: users, how many must use MFA, how many are in each state, and how
    many hold an app's secret (totp_users) or passkeys (passkey_users): a user with both
    counts in both."""
    tally: dict[str, Counter[str]] = {}
    for user in users:
        counter = tally.setdefault(user.user_type, Counter())
        kinds = [f"{k}_users" for k in user.authenticators.split()]
        counter.update(
            ["users", user.enrollment, *kinds, *(["required"] if user.mfa_required else [])]
        )
    keys = ("users", "required", *ENROLLMENT_STATES, "totp_users", "passkey_users")
    return {t: {k: tally[t][k] for k in keys} for t in sorted(tally)}


CSV_COLUMNS = tuple(f.name for f in fields(UserCoverage))


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: never a formula (CWE-1236)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_line(cells: Iterable[object]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()


def csv_header() -> str:
    return _csv_line(CSV_COLUMNS)


def csv_line(user: UserCoverage) -> str:
    return _csv_line(_cell(getattr(user, c)) for c in CSV_COLUMNS)
