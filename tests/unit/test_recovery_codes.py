"""Recovery codes as values: made, hashed, used once, counted like any wrong code."""

from datetime import UTC, datetime, timedelta

from services.verification.domain import GuardState, LockoutRules, RecoveryAccepted, Rejected
from services.verification.recovery import (
    ALPHABET,
    check_recovery_code,
    digest,
    new_codes,
    normalized,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LOCKOUT = LockoutRules(max_failures=3, duration=timedelta(minutes=15))


def test_ten_distinct_codes_without_look_alike_characters_are_made() -> None:
    shown, kept = new_codes()
    assert len(set(shown)) == kept.left == 10
    assert all(set(normalized(c)) <= set(ALPHABET) and len(normalized(c)) == 10 for c in shown)
    assert not {"0", "o", "1", "l", "i"} & set(ALPHABET)


def test_only_digests_are_kept_and_each_set_has_its_own_salt() -> None:
    shown, kept = new_codes()
    _, other = new_codes()
    assert kept.salt != other.salt
    assert not any(normalized(c) in d for c in shown for d in kept.digests)
    assert digest(shown[0], kept.salt) in kept.digests


def test_a_code_is_accepted_once_and_leaves_the_set() -> None:
    shown, kept = new_codes()
    state = GuardState(last_step=7, failures=2)
    typed = digest(shown[4].upper().replace("-", " "), kept.salt)
    after, left, outcome = check_recovery_code(state, kept, typed, NOW, LOCKOUT)
    assert outcome == RecoveryAccepted(9)
    assert after == GuardState(last_step=7)  # failures end; the app's replay guard stays
    assert left is not None
    _, _, again = check_recovery_code(after, left, typed, NOW, LOCKOUT)
    assert again == Rejected("invalid", 2)


def test_wrong_codes_lock_like_wrong_app_codes() -> None:
    shown, kept = new_codes()
    state = GuardState()
    for _ in range(3):
        state, _, outcome = check_recovery_code(
            state, kept, digest("xxxxx-xxxxx", kept.salt), NOW, LOCKOUT
        )
    assert outcome == Rejected("locked", 0, NOW + timedelta(minutes=15), locked_now=True)
    _, _, refused = check_recovery_code(state, kept, digest(shown[0], kept.salt), NOW, LOCKOUT)
    assert refused.reason == "locked"  # type: ignore[union-attr]


def test_without_a_set_any_code_is_a_counted_failure() -> None:
    _, _, outcome = check_recovery_code(GuardState(), None, None, NOW, LOCKOUT)
    assert outcome == Rejected("invalid", 2)
