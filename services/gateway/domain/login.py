"""What a login looks like to a client: pure rules over the stored record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal

from shared.crypto import Sealed
from shared.identity import UserRef

Status = Literal[
    "pending", "authenticated", "enrollment_required", "code_required", "locked", "expired"
]
WAITING_FOR_CODE: tuple[Status, ...] = ("enrollment_required", "code_required")
# How an authenticated login passed MFA (None: it needed no code).
PassedBy = Literal["code", "recovery_code", "passkey", "remembered_device"]
Kind = Literal["totp", "passkey"]


@dataclass(frozen=True)
class PendingEnrollment:
    otpauth_uri: Sealed | None  # None: no app may be registered (a passkey is required)
    expires_at: datetime
    passkey_registration: str | None = None  # CreationOptionsJSON, if a passkey may be


@dataclass(frozen=True)
class Ask:
    """What a login waiting for the user asks for: the kinds it accepts (an app's code,
    a passkey), a QR or passkey registration to show, and a passkey's sign-in options."""

    credential_id: str
    kinds: tuple[Kind, ...]
    enrollment: PendingEnrollment | None = None
    passkey_authentication: str | None = None  # RequestOptionsJSON
    open_until: datetime | None = None  # the login stays open at least until then
    locked_until: datetime | None = None  # the user's lock, known when asked: no read per code
    first_use: bool = False  # an imported app's first code: it confirms the authenticator
    digits: int = 6  # the app's codes: how many digits,
    period: int = 30  # and how many seconds each


@dataclass(frozen=True)
class CodeOutcome:
    """What verification answered for one submitted code."""

    accepted: bool
    reason: str | None = None
    attempts_left: int | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Login:
    login_id: str
    organization_id: str  # only this organization's keys see the login
    client: str  # the key (or "web") that started it
    user_id: str  # canonical
    email: str
    user_type: str
    status: Status  # as stored; see visible_status for what a client is shown
    created_at: datetime
    expires_at: datetime
    mfa_required: bool | None = None
    credential_id: str | None = None
    enrollment: PendingEnrollment | None = None
    locked_until: datetime | None = None
    outcomes: Mapping[str, CodeOutcome] = field(default_factory=dict)  # by submission id
    browser: str | None = None  # the session that opened its hosted page first
    passed_by: PassedBy | None = None
    remembered_credential: str | None = None  # a valid device token named this credential
    recovery_codes: Sealed | None = None  # issued to this login, not yet shown
    # The submission (or request) whose answer issued them, and who sent each one:
    # recovery codes go only to the caller whose code or request issued them.
    recovery_codes_for: str | None = None
    callers: Mapping[str, str] = field(default_factory=dict)  # submission/request id -> caller
    lost_answers: frozenset[str] = frozenset()  # submissions/requests whose wait timed out
    device_remembered: bool = False  # a device token was issued after this login's code
    recovery_answer: str | None = None  # the last request for new recovery codes answered
    trace: Mapping[str, str] = field(default_factory=dict)  # its trace context (traceparent)
    kinds: tuple[Kind, ...] = ("totp",)  # what it accepts while waiting for the user
    digits: int = 6  # the user's app codes (TotpParameters): digits and seconds each
    period: int = 30
    passkey_authentication: str | None = None  # the sign-in options (RequestOptionsJSON)
    first_use: bool = False  # the code it asks for confirms an imported authenticator
    # One more passkey, for the user who just passed (its CreationOptionsJSON), the
    # request it answers, and why enrollment opened none.
    passkey_addition: str | None = None
    addition_answer: str | None = None
    addition_refused: str | None = None

    @property
    def user(self) -> UserRef:
        return UserRef(self.organization_id, self.user_id)

    @property
    def purpose(self) -> Literal["enrollment", "login"]:
        """An enrollment's code confirms the authenticator (and brings the first recovery
        codes): a QR's, or an imported authenticator's first (Ask.first_use)."""
        confirming = self.status == "enrollment_required" or self.first_use
        return "enrollment" if confirming else "login"


@dataclass(frozen=True)
class CodePassed:
    """An app's code that authenticated the login (the write matched): handed in memory
    to the request waiting for this submission, which then reads nothing back."""

    submission_id: str


def asked(login: Login, ask: Ask) -> Login:
    """The pending login once asked for a code or a passkey: what the store's
    conditional write makes of it (the store contract scenarios hold both to it)."""
    until = max(login.expires_at, ask.open_until or login.expires_at)
    return replace(
        login,
        status="enrollment_required" if ask.enrollment else "code_required",
        mfa_required=True,
        credential_id=ask.credential_id,
        enrollment=ask.enrollment,
        kinds=ask.kinds,
        passkey_authentication=ask.passkey_authentication,
        first_use=ask.first_use,
        digits=ask.digits,
        period=ask.period,
        expires_at=until,
        locked_until=ask.locked_until or login.locked_until,
    )


def passed_by_code(
    login: Login,
    submission_id: str,
    passed_by: PassedBy = "code",
    recovery_codes: Sealed | None = None,
) -> Login:
    """The waiting login authenticated by this submission: what the store's write makes
    of it."""
    return replace(
        login,
        status="authenticated",
        enrollment=None,
        locked_until=None,
        passed_by=passed_by,
        recovery_codes=recovery_codes or login.recovery_codes,
        recovery_codes_for=submission_id if recovery_codes else login.recovery_codes_for,
        outcomes={**login.outcomes, submission_id: CodeOutcome(accepted=True)},
    )


def visible_status(login: Login, now: datetime) -> Status:
    if login.status == "authenticated":
        return "authenticated"
    if login.status == "expired" or now >= login.expires_at:
        return "expired"
    if login.status in WAITING_FOR_CODE and login.locked_until and now < login.locked_until:
        return "locked"
    return login.status


class CodeGate(Enum):
    OPEN = "open"
    EXPIRED = "expired"
    NOT_WAITING = "not_waiting"


LONGEST_SIGN_IN = timedelta(hours=1)  # however often the user asks for more time


def may_have_more_time(login: Login, now: datetime, use: str | None = None) -> bool:
    """Whether the user may ask for more time (WCAG 2.2.1): a login waiting for them,
    short of its longest time, whose page (``use``: the one chosen, if any) holds no
    passkey ceremony: a passkey's challenge lives its own fixed time, which a longer
    sign-in would outlive."""
    registration = login.enrollment is not None and login.enrollment.passkey_registration
    ceremony = login.passkey_authentication is not None or (bool(registration) and use != "app")
    return (
        visible_status(login, now) in (*WAITING_FOR_CODE, "locked")
        and not ceremony
        and login.expires_at < login.created_at + LONGEST_SIGN_IN
    )


def more_time(
    login: Login, now: datetime, step: timedelta, use: str | None = None
) -> datetime | None:
    """Until when the login stays open when the user asks for more time: its step's
    time again from now, never past an hour from its start (None: no more time)."""
    if not may_have_more_time(login, now, use):
        return None
    return min(now + step, login.created_at + LONGEST_SIGN_IN)


def may_submit_code(login: Login, now: datetime) -> CodeGate:
    """A code goes to verification only for a live login that asked for one.

    A locked login still forwards it: verification owns the lock and answers.
    """
    status = visible_status(login, now)
    if status == "expired":
        return CodeGate.EXPIRED
    if status in (*WAITING_FOR_CODE, "locked"):
        return CodeGate.OPEN
    return CodeGate.NOT_WAITING


def may_take_recovery_codes(login: Login, caller: str, *, answer_lost: bool = False) -> bool:
    """Recovery codes waiting in this login, issued by ``caller``'s own code or request:
    an API key, or the browser session that typed the code. Nobody else ever sees them,
    whoever else may hold the login id. ``answer_lost``: only if the answer that should
    have carried them timed out (a later read of the login), never while that answer
    may still come (a read racing the code's own answer gets nothing)."""
    issued_for = login.recovery_codes_for
    if login.recovery_codes is None or issued_for is None:
        return False
    if login.callers.get(issued_for) != caller:
        return False
    return not answer_lost or issued_for in login.lost_answers


def accepts(login: Login, kind: str) -> bool:
    """Whether this login takes this kind of answer: the kinds it asked for (a user who
    must use a passkey is never asked for an app's code), and recovery codes once the
    user holds an authenticator."""
    if kind == "recovery_code":
        return login.purpose == "login"
    return kind in login.kinds


def passed_a_code(login: Login, now: datetime, caller: str) -> bool:
    """Authenticated by a code (an app's or a recovery code) that ``caller`` sent, and
    still live: the moment that caller, and only it, may ask for new recovery codes or
    to remember the device."""
    return (
        login.status == "authenticated"
        and login.passed_by in ("code", "recovery_code", "passkey")
        and now < login.expires_at
        and any(
            outcome.accepted and login.callers.get(submission) == caller
            for submission, outcome in login.outcomes.items()
        )
    )
