"""HOTP (RFC 4226) as values: codes checked against an independent implementation
(oathtool), the look-ahead window, replays, and the lockout they share with TOTP."""

import subprocess
from datetime import UTC, datetime

import pytest

from services.verification.domain import Accepted, GuardState, LockoutRules, Rejected
from services.verification.hotp import HotpRules, check_hotp, resync

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
LOCKOUT = LockoutRules(max_failures=5)


def oathtool(counter: int, digits: int = 6, algorithm: str = "sha1") -> str:
    """oathtool's HOTP is SHA-1 only (as RFC 4226); for SHA-256/512 tokens, its TOTP with
    one-second steps at time ``counter`` is the same HMAC over the same counter."""
    mode = (
        ["--hotp", f"--counter={counter}"]
        if algorithm == "sha1"
        else [f"--totp={algorithm}", "--time-step-size=1s", "--now", f"@{counter}"]
    )
    done = subprocess.run(
        ["oathtool", *mode, f"--digits={digits}", "--base32", SECRET],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def at_counter(counter: int) -> GuardState:
    """A token whose next code is ``counter``'s."""
    return GuardState(last_step=counter - 1)


@pytest.mark.parametrize(("digits", "algorithm"), [(6, "SHA1"), (8, "SHA256"), (8, "SHA512")])
def test_the_expected_code_is_accepted_once_and_moves_the_counter_on(
    digits: int, algorithm: str
) -> None:
    rules = HotpRules(digits=digits, algorithm=algorithm)
    code = oathtool(5, digits, algorithm.lower())
    state, outcome = check_hotp(at_counter(5), SECRET, code, NOW, rules, LOCKOUT)
    assert outcome == Accepted(5)
    assert state.last_step == 5
    _, again = check_hotp(state, SECRET, code, NOW, rules, LOCKOUT)
    assert again == Rejected("reused", 4)


def test_a_token_pressed_ahead_is_accepted_within_the_look_ahead_and_jumps_there() -> None:
    rules = HotpRules(look_ahead=10)
    state, outcome = check_hotp(at_counter(3), SECRET, oathtool(13), NOW, rules, LOCKOUT)
    assert outcome == Accepted(13)
    assert state.last_step == 13
    _, too_far = check_hotp(at_counter(3), SECRET, oathtool(14), NOW, rules, LOCKOUT)
    assert too_far == Rejected("invalid", 4)


def test_a_code_behind_the_counter_is_a_replay_and_counts_toward_the_lock() -> None:
    state = at_counter(20)
    for left in (4, 3, 2, 1):
        state, outcome = check_hotp(state, SECRET, oathtool(19), NOW, HotpRules(), LOCKOUT)
        assert outcome == Rejected("reused", left)
    state, locked = check_hotp(state, SECRET, "000000", NOW, HotpRules(), LOCKOUT)
    assert isinstance(locked, Rejected)
    assert locked.locked_now
    _, still = check_hotp(state, SECRET, oathtool(20), NOW, HotpRules(), LOCKOUT)
    assert isinstance(still, Rejected)
    assert still.reason == "locked"  # the right code, refused while locked


def test_a_resynchronisation_finds_two_consecutive_codes_far_ahead_and_only_those() -> None:
    rules = HotpRules()
    assert resync(SECRET, oathtool(500), oathtool(501), 3, rules) == 501
    assert resync(SECRET, oathtool(500), oathtool(502), 3, rules) is None  # not consecutive
    assert resync(SECRET, oathtool(2), oathtool(3), 3, rules) is None  # behind the counter
    assert resync(SECRET, oathtool(1100), oathtool(1101), 3, rules) is None  # past the window
