"""TOTP windows, replay and lockout, with time as a plain argument."""

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from services.verification.domain import (
    Accepted,
    Answer,
    GuardState,
    LockoutRules,
    Rejected,
    TotpRules,
    check_code,
    code_for_step,
    remember,
    time_step,
)
from shared.events import TotpParameters

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 11, 29, 12, 0, 10, tzinfo=UTC)
TOTP = TotpRules()
LOCKOUT = LockoutRules(max_failures=5, duration=timedelta(minutes=15))


def code_at(moment: datetime) -> str:
    return pyotp.TOTP(SECRET).at(moment)


def check(code: str, state: GuardState | None = None, now: datetime = NOW):
    return check_code(state or GuardState(), SECRET, code, now, TOTP, LOCKOUT)


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_codes_match_rfc6238_appendix_b_sha1_vectors(unix_time: int, expected: str) -> None:
    rfc_secret = base64.b32encode(b"12345678901234567890").decode()
    rules = TotpRules(digits=8)
    step = time_step(datetime.fromtimestamp(unix_time, UTC), rules.period)
    assert code_for_step(rfc_secret, step, rules) == expected


SEEDS = {
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890" * 6 + b"1234",
}


@pytest.mark.parametrize(
    ("algorithm", "unix_time", "expected"),
    [
        ("SHA256", 59, "46119246"),
        ("SHA256", 1111111109, "68084774"),
        ("SHA256", 20000000000, "77737706"),
        ("SHA512", 59, "90693936"),
        ("SHA512", 1234567890, "93441116"),
        ("SHA512", 20000000000, "47863826"),
    ],
)
def test_codes_match_rfc6238_appendix_b_sha256_and_sha512_vectors(
    algorithm: str, unix_time: int, expected: str
) -> None:
    seed = base64.b32encode(SEEDS[algorithm]).decode()
    rules = TotpRules().for_codes(TotpParameters(algorithm=algorithm, digits=8))  # type: ignore[arg-type]
    step = time_step(datetime.fromtimestamp(unix_time, UTC), rules.period)
    assert code_for_step(seed, step, rules) == expected


def test_a_credentials_own_step_and_digits_decide_its_window() -> None:
    rules = TotpRules().for_codes(TotpParameters(digits=8, period=60))
    now = NOW + timedelta(seconds=50)
    code = code_for_step(SECRET, time_step(now, 60), rules)
    assert len(code) == 8
    state, outcome = check_code(GuardState(), SECRET, code, now, rules, LOCKOUT)
    assert isinstance(outcome, Accepted)
    assert state.last_step == time_step(now, 60)
    _, six = check_code(GuardState(), SECRET, code[:6], now, rules, LOCKOUT)
    assert isinstance(six, Rejected)


def test_accepts_the_current_code_and_remembers_its_step() -> None:
    state, outcome = check(code_at(NOW))
    assert outcome == Accepted(time_step(NOW, 30))
    assert state.last_step == time_step(NOW, 30)


def test_accepts_the_previous_step_for_transmission_delay() -> None:
    _, outcome = check(code_at(NOW - timedelta(seconds=30)))
    assert isinstance(outcome, Accepted)


def test_accepts_the_next_step_for_a_phone_clock_slightly_ahead() -> None:
    _, outcome = check(code_at(NOW + timedelta(seconds=30)))
    assert isinstance(outcome, Accepted)


def test_refuses_two_steps_ahead() -> None:
    _, outcome = check(code_at(NOW + timedelta(seconds=60)))
    assert outcome == Rejected("invalid", 4)


@pytest.mark.parametrize("seconds_late", [60, 90, 300])
def test_reports_a_valid_but_old_code_as_expired(seconds_late: int) -> None:
    _, outcome = check(code_at(NOW - timedelta(seconds=seconds_late)))
    assert outcome == Rejected("expired", 4)


def test_a_code_older_than_the_lookback_is_just_invalid() -> None:
    _, outcome = check(code_at(NOW - timedelta(minutes=30)))
    assert outcome == Rejected("invalid", 4)


def test_refuses_a_code_reused_in_the_same_step() -> None:
    state, _ = check(code_at(NOW))
    _, outcome = check(code_at(NOW), state, NOW + timedelta(seconds=5))
    assert outcome == Rejected("reused", 4)


def test_refuses_an_older_step_after_a_newer_one_was_used() -> None:
    state, _ = check(code_at(NOW))
    _, outcome = check(code_at(NOW - timedelta(seconds=30)), state)
    assert outcome.reason == "reused"  # type: ignore[union-attr]


FULLWIDTH_DIGITS = "\uff11\uff12\uff13\uff14\uff15\uff16"


@pytest.mark.parametrize("garbage", ["", "12345", "1234567", "abcdef", "12 456", FULLWIDTH_DIGITS])
def test_malformed_codes_are_invalid(garbage: str) -> None:
    _, outcome = check(garbage)
    assert outcome == Rejected("invalid", 4)


def test_counts_attempts_down_and_locks_on_the_fifth_failure() -> None:
    state = GuardState()
    seen = []
    for _ in range(5):
        state, outcome = check("000000" if code_at(NOW) != "000000" else "111111", state)
        seen.append(outcome)
    assert [o.attempts_left for o in seen] == [4, 3, 2, 1, 0]  # type: ignore[union-attr]
    assert seen[-1] == Rejected("locked", 0, NOW + timedelta(minutes=15), locked_now=True)
    assert state.locked_until == NOW + timedelta(minutes=15)


def test_a_locked_user_is_refused_even_the_right_code_without_counting() -> None:
    locked = GuardState(failures=0, locked_until=NOW + timedelta(minutes=1))
    state, outcome = check(code_at(NOW), locked)
    assert outcome == Rejected("locked", 0, locked.locked_until)
    assert state == locked


def test_the_lock_lapses_after_its_duration() -> None:
    locked = GuardState(locked_until=NOW)
    _, outcome = check(code_at(NOW), locked, NOW)
    assert isinstance(outcome, Accepted)


def test_a_success_resets_the_failure_count() -> None:
    state = GuardState(failures=4)
    state, outcome = check(code_at(NOW), state)
    assert isinstance(outcome, Accepted)
    assert state.failures == 0


def test_expired_and_reused_codes_count_as_failures_too() -> None:
    state, _ = check(code_at(NOW))
    state, first = check(code_at(NOW), state)
    state, second = check(code_at(NOW - timedelta(seconds=120)), state)
    assert (first.attempts_left, second.attempts_left) == (4, 3)  # type: ignore[union-attr]


def lock_out(state: GuardState, now: datetime) -> GuardState:
    for _ in range(5):
        state, _ = check("000000" if code_at(now) != "000000" else "111111", state, now)
    return state


def test_each_lock_without_a_success_between_lasts_twice_as_long() -> None:
    first = lock_out(GuardState(), NOW)
    assert first.locked_until == NOW + timedelta(minutes=15)
    later = NOW + timedelta(minutes=15)
    second = lock_out(first, later)
    assert second.locked_until == later + timedelta(minutes=30)
    assert second.locks == 2


def test_locks_never_exceed_the_cap() -> None:
    state = GuardState(locks=20)
    state = lock_out(state, NOW)
    assert state.locked_until == NOW + timedelta(days=1)


def test_a_success_forgets_earlier_locks() -> None:
    state, _ = check(code_at(NOW), GuardState(locks=3, locked_until=NOW))
    assert state.locks == 0
    assert lock_out(state, NOW + timedelta(minutes=1)).locked_until == NOW + timedelta(minutes=16)


def test_escalation_can_be_turned_off() -> None:
    fixed = LockoutRules(escalation=1.0)
    assert fixed.lock_duration(0) == fixed.lock_duration(7) == timedelta(minutes=15)


def test_answers_are_kept_as_long_as_a_login_may_redeliver_them() -> None:
    memory = timedelta(minutes=10)
    answers = remember({}, "e1", Answer(Accepted(1), NOW), memory)
    at = NOW + timedelta(minutes=9)
    answers = remember(answers, "e2", Answer(Rejected("invalid", 4), at), memory)
    assert set(answers) == {"e1", "e2"}
    later = remember(answers, "e3", Answer(Accepted(2), NOW + timedelta(minutes=10)), memory)
    assert set(later) == {"e2", "e3"}  # e1 is older than any login lives
