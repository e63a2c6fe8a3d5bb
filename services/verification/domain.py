"""TOTP checking, replay and lockout: pure rules, time passed in.

A code is checked against the time steps around now. One that matches a step in
the acceptance window and newer than the last accepted step is accepted; one in
the window but not newer is a replay; one that matches an older step was typed
too late ("expired"); anything else is invalid. Every rejection counts toward the
lockout, so no kind of guess is free.

Locks escalate: each lock that follows another without a success in between lasts
twice as long (up to a day), so a guesser gets a few dozen tries a day, not hundreds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pyotp

from shared.crypto import Sealed
from shared.events import (  # the contract's words, as the events carry them
    RejectReason,
    TotpParameters,
)

DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


@dataclass(frozen=True)
class TotpRules:
    period: int = 30
    digits: int = 6
    algorithm: str = "SHA1"  # the HMAC's hash (RFC 6238 section 1.2): SHA1, SHA256, SHA512
    # RFC 6238 section 5.2: allow at most one step back for transmission delay;
    # one step forward tolerates a phone clock a little ahead.
    accept_past_steps: int = 1
    accept_future_steps: int = 1
    # How far back a matching code is still reported as expired, not invalid.
    expired_lookback_steps: int = 10

    def for_codes(self, parameters: TotpParameters) -> TotpRules:
        """These rules for a credential's own codes: its hash, digits and step."""
        return replace(
            self,
            algorithm=parameters.algorithm,
            digits=parameters.digits,
            period=parameters.period,
        )

    def otp(self, secret: str) -> pyotp.TOTP:
        otp = pyotp.TOTP(
            secret, digits=self.digits, interval=self.period, digest=DIGESTS[self.algorithm]
        )
        # pyotp decodes the base32 secret again for every code it makes; a check makes
        # a dozen (the window and the expired steps before it): decode it once.
        key = otp.byte_secret()
        otp.byte_secret = lambda: key  # type: ignore[method-assign]
        return otp


@dataclass(frozen=True)
class LockoutRules:
    max_failures: int = 5
    duration: timedelta = timedelta(minutes=15)
    escalation: float = 2.0  # each consecutive lock lasts this much longer; 1 = fixed
    max_duration: timedelta = timedelta(days=1)

    def lock_duration(self, earlier_locks: int) -> timedelta:
        return min(self.duration * self.escalation**earlier_locks, self.max_duration)


@dataclass(frozen=True)
class GuardState:
    """What verification keeps per user between codes."""

    last_step: int = -1  # the newest time step ever accepted: older or equal is a replay
    failures: int = 0  # consecutive rejections since the last success or lock
    locked_until: datetime | None = None
    locks: int = 0  # locks since the last success: each one lasts longer


@dataclass(frozen=True)
class Accepted:
    step: int
    offset: int = 0  # step minus the current step: how far the app's clock drifts


@dataclass(frozen=True)
class RecoveryAccepted:
    codes_left: int


@dataclass(frozen=True)
class PasskeyAccepted:
    passkey_id: str
    sign_count: int


@dataclass(frozen=True)
class Rejected:
    reason: RejectReason
    attempts_left: int
    locked_until: datetime | None = None
    locked_now: bool = False  # this rejection started the lock


Outcome = Accepted | Rejected
Passed = Accepted | RecoveryAccepted | PasskeyAccepted
# None: recovery codes issued on request.
AnswerOutcome = Accepted | RecoveryAccepted | PasskeyAccepted | Rejected | None


@dataclass(frozen=True)
class StepMatch:
    step: int
    in_window: bool


def time_step(now: datetime, period: int) -> int:
    return int(now.timestamp()) // period


def code_for_step(secret: str, step: int, rules: TotpRules) -> str:
    return rules.otp(secret).generate_otp(step)


def match_step(secret: str, code: str, now: datetime, rules: TotpRules) -> StepMatch | None:
    """The newest step whose code equals ``code``, comparing in constant time."""
    if len(code) != rules.digits or not (code.isascii() and code.isdigit()):
        return None
    otp = rules.otp(secret)
    current = time_step(now, rules.period)
    oldest_in_window = current - rules.accept_past_steps
    newest = current + rules.accept_future_steps
    oldest = oldest_in_window - rules.expired_lookback_steps
    found: StepMatch | None = None
    for step in range(oldest, newest + 1):  # no early exit: every step costs the same
        if hmac.compare_digest(otp.generate_otp(step), code):
            found = StepMatch(step, in_window=step >= oldest_in_window)
    return found


def check_code(
    state: GuardState,
    secret: str,
    code: str,
    now: datetime,
    totp: TotpRules,
    lockout: LockoutRules,
) -> tuple[GuardState, Outcome]:
    if is_locked(state, now):
        return state, Rejected("locked", 0, state.locked_until)
    match = match_step(secret, code, now, totp)
    if match is None:
        return count_failure(state, "invalid", now, lockout)
    if not match.in_window:
        return count_failure(state, "expired", now, lockout)
    if match.step <= state.last_step:
        return count_failure(state, "reused", now, lockout)
    offset = match.step - time_step(now, totp.period)
    return GuardState(last_step=match.step), Accepted(match.step, offset)


@dataclass(frozen=True)
class Assertion:
    """What a passkey's signature, checked against the challenge and the public key,
    says: which passkey signed, and its counter now."""

    passkey_id: str
    sign_count: int


def check_passkey(
    state: GuardState,
    assertion: Assertion | None,
    stored_count: int,
    now: datetime,
    lockout: LockoutRules,
) -> tuple[GuardState, PasskeyAccepted | Rejected]:
    """A passkey's answer: refused if the user is locked, if its signature did not check
    (None), or if its counter did not move forward where either count is in use: a
    counter that goes back means a copy of the key may be signing too (WebAuthn
    6.1.1). Every refusal counts toward the same lockout as a wrong code."""
    if is_locked(state, now):
        return state, Rejected("locked", 0, state.locked_until)
    if assertion is None:
        return count_failure(state, "invalid", now, lockout)
    counting = assertion.sign_count > 0 or stored_count > 0
    if counting and assertion.sign_count <= stored_count:
        state, rejected = count_failure(state, "possibly_cloned", now, lockout)
        # Said even when this refusal locks the user: it is what the user must hear.
        return state, replace(rejected, reason="possibly_cloned")
    passed = GuardState(last_step=state.last_step)  # failures and lock escalation end
    return passed, PasskeyAccepted(assertion.passkey_id, assertion.sign_count)


@dataclass(frozen=True)
class Answer:
    """What one submission or request (an event id) got, kept so a redelivery gets it
    again: a check's outcome, and any recovery codes it issued (sealed)."""

    outcome: AnswerOutcome
    at: datetime
    recovery_codes: Sealed | None = None


def remember(
    answers: Mapping[str, Answer], event_id: str, answer: Answer, memory: timedelta
) -> dict[str, Answer]:
    """The answers to keep after this one: every answer younger than ``memory`` (longer
    than a login lives), so any submission redelivered meanwhile is answered the same."""
    kept = {eid: a for eid, a in answers.items() if answer.at - a.at < memory}
    return {**kept, event_id: answer}


def is_locked(state: GuardState, now: datetime) -> bool:
    return state.locked_until is not None and now < state.locked_until


def count_failure(
    state: GuardState, reason: RejectReason, now: datetime, lockout: LockoutRules
) -> tuple[GuardState, Rejected]:
    """One more rejection; the one that reaches ``max_failures`` locks (even a clone
    warning: the user hears of it by the notice, the guesser gets no more tries)."""
    failures = state.failures + 1
    if failures >= lockout.max_failures:
        until = now + lockout.lock_duration(state.locks)
        locked = replace(state, failures=0, locked_until=until, locks=state.locks + 1)
        return locked, Rejected("locked", 0, until, locked_now=True)
    return replace(state, failures=failures), Rejected(reason, lockout.max_failures - failures)
