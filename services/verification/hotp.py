"""Counter-based codes (RFC 4226), for hardware tokens brought in by an import: pure
rules, no I/O.

The guard's ``last_step`` holds the last counter accepted, so the compare-and-set write
that accepts a code also moves the counter on (store.save): two replicas racing on one
code cannot both accept it. A token pressed without signing in runs ahead of the
server; codes up to ``look_ahead`` counters ahead are accepted (RFC 4226 section 7.4)
and the counter jumps to the one matched. A code at or behind the counter is a replay.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

import pyotp

from services.verification.domain import (
    DIGESTS,
    Accepted,
    GuardState,
    LockoutRules,
    Rejected,
    count_failure,
    is_locked,
)


@dataclass(frozen=True)
class HotpRules:
    digits: int = 6
    algorithm: str = "SHA1"
    look_ahead: int = 10  # counters ahead of the expected one still accepted
    behind: int = 10  # counters behind still recognised, as a replay

    def otp(self, secret: str) -> pyotp.HOTP:
        return pyotp.HOTP(secret, digits=self.digits, digest=DIGESTS[self.algorithm])


def match_counter(secret: str, code: str, expected: int, rules: HotpRules) -> int | None:
    """The counter in [expected - behind, expected + look_ahead] whose code is ``code``
    (the lowest ahead, else the newest behind), comparing every one in constant time."""
    if len(code) != rules.digits or not (code.isascii() and code.isdigit()):
        return None
    otp = rules.otp(secret)
    ahead: int | None = None
    behind: int | None = None
    for counter in range(max(0, expected - rules.behind), expected + rules.look_ahead + 1):
        if hmac.compare_digest(otp.at(counter), code):  # no early exit
            if counter >= expected and ahead is None:
                ahead = counter
            elif counter < expected:
                behind = counter
    return ahead if ahead is not None else behind


def check_hotp(
    state: GuardState,
    secret: str,
    code: str,
    now: datetime,
    rules: HotpRules,
    lockout: LockoutRules,
) -> tuple[GuardState, Accepted | Rejected]:
    """``state.last_step`` is the last counter accepted: the next code expected is the
    one after it."""
    if is_locked(state, now):
        return state, Rejected("locked", 0, state.locked_until)
    expected = state.last_step + 1
    matched = match_counter(secret, code, expected, rules)
    if matched is None:
        return count_failure(state, "invalid", now, lockout)
    if matched < expected:
        return count_failure(state, "reused", now, lockout)
    # No offset: a token's counter runs ahead by presses, not by a clock's drift.
    return GuardState(last_step=matched), Accepted(matched)


RESYNC_WINDOW = 1_000  # how far ahead a resynchronisation looks for the pair of codes


def resync(secret: str, first: str, second: str, last: int, rules: HotpRules) -> int | None:
    """The counter of ``second`` when ``first`` and ``second`` are the codes of two
    consecutive counters within RESYNC_WINDOW after ``last``; None otherwise. Every
    counter is computed and compared, whatever matches."""
    otp = rules.otp(secret)
    found: int | None = None
    previous = otp.at(last + 1)
    for counter in range(last + 2, last + 2 + RESYNC_WINDOW):
        current = otp.at(counter)
        pair = hmac.compare_digest(previous, first) & hmac.compare_digest(current, second)
        if pair and found is None:
            found = counter
        previous = current
    return found
