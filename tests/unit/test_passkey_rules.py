"""The passkey rules as values: who must use one, what a login offers and accepts, when a
counter is a clone, and which passkey may go."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.enrollment.domain import (
    MAX_PASSKEYS,
    Credential,
    Next,
    kinds_for_login,
    may_add_passkey,
    new_credential,
    next_step,
    offered_kinds,
)
from services.gateway.domain.login import Login, accepts
from services.gateway.domain.snapshots import AuthenticatorRecord, PasskeyRecord
from services.policy.domain import PolicySnapshot, decide
from services.verification.domain import (
    Assertion,
    GuardState,
    LockoutRules,
    PasskeyAccepted,
    Rejected,
    check_passkey,
)
from shared.events import Passkey, PolicyRules, RelyingParty
from shared.identity import UserRef

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PARTY = RelyingParty(id="localhost", origins=("http://localhost:8000",))
USER = UserRef("default", "ada")


def policy(**rules: object) -> PolicySnapshot:
    return PolicySnapshot(False, frozenset({"editor"}), False, 1, PolicyRules(**rules))  # type: ignore[arg-type]


def test_a_user_who_must_use_a_passkey_is_covered_and_offered_nothing_else() -> None:
    by_type = decide(policy(require_passkey_user_types=("admin",)), "admin")
    assert (by_type.mfa_required, by_type.reason, by_type.kinds) == (
        True,
        "user_type",
        ("passkey",),
    )
    listed = decide(replace(policy(), lists_user_for_passkey=True), "viewer")
    assert (listed.reason, listed.kinds) == ("user", ("passkey",))
    everyone = decide(policy(require_passkey_all_users=True), "viewer")
    assert everyone.kinds == ("passkey",)
    assert decide(policy(), "editor").kinds == ("passkey", "totp")
    assert decide(policy(allowed_kinds=("totp",)), "editor").kinds == ("totp",)


def test_a_policy_that_requires_passkeys_must_allow_them() -> None:
    with pytest.raises(ValidationError, match="must allow them"):
        PolicyRules(allowed_kinds=("totp",), require_passkey_all_users=True)


@pytest.mark.parametrize("rp_id", ["127.0.0.1", "10.0.0.1", "Example.com", "-x.com", "a..b"])
def test_an_ip_address_or_malformed_name_is_never_an_rp_id(rp_id: str) -> None:
    with pytest.raises(ValidationError):
        RelyingParty(id=rp_id, origins=("https://example.com",))


def test_registration_offers_a_passkey_only_where_there_is_a_relying_party() -> None:
    assert offered_kinds(("passkey", "totp"), PARTY) == ("passkey", "totp")
    assert offered_kinds(("passkey", "totp"), None) == ("totp",)
    assert offered_kinds(("passkey",), None) == ("totp",)  # never no way in at all


def test_a_login_asks_only_for_the_passkey_when_one_is_required_and_held() -> None:
    assert kinds_for_login(("passkey", "totp"), ("passkey",)) == ("passkey",)
    assert kinds_for_login(("totp",), ("passkey",)) == ("totp",)  # until they add one
    assert kinds_for_login(("passkey", "totp"), ("passkey", "totp")) == ("passkey", "totp")


def credential(**changes: object) -> Credential:
    made = new_credential(USER, "ada@example.com", NOW, timedelta(minutes=10))
    return replace(made, **changes)  # type: ignore[arg-type]


def passkey(n: int) -> Passkey:
    return Passkey(id=f"id{n}", public_key="pk", sign_count=0, created_at=NOW)


def test_what_a_credential_holds_and_whether_another_passkey_fits() -> None:
    assert credential().kinds() == ()  # unconfirmed: nothing to sign in with
    app_only = credential(confirmed_at=NOW)
    assert app_only.kinds() == ("totp",)
    both = credential(confirmed_at=NOW, passkeys=(passkey(1),))
    assert both.kinds() == ("passkey", "totp")
    assert credential(confirmed_at=NOW, totp=False, passkeys=(passkey(1),)).kinds() == ("passkey",)
    full = credential(passkeys=tuple(passkey(n) for n in range(MAX_PASSKEYS)))
    assert not may_add_passkey(full)
    assert may_add_passkey(both)


def test_a_pending_passkey_only_offer_is_replaced_when_an_app_may_be_used_now() -> None:
    passkey_only = credential(totp=False)
    assert next_step(passkey_only, NOW, wants_totp=False) is Next.SHOW_PENDING
    assert next_step(passkey_only, NOW, wants_totp=True) is Next.ISSUE_NEW
    assert next_step(credential(), NOW, wants_totp=False) is Next.SHOW_PENDING


def test_a_passkey_answer_passes_only_with_a_counter_that_moves_on() -> None:
    lockout = LockoutRules()
    state, passed = check_passkey(GuardState(failures=3), Assertion("id1", 5), 4, NOW, lockout)
    assert passed == PasskeyAccepted("id1", 5)
    assert state.failures == 0
    _, synced = check_passkey(GuardState(), Assertion("id1", 0), 0, NOW, lockout)
    assert isinstance(synced, PasskeyAccepted)  # a synced passkey counts nothing
    for count, stored in ((4, 4), (3, 4), (0, 4)):
        state, refused = check_passkey(GuardState(), Assertion("id1", count), stored, NOW, lockout)
        assert refused == Rejected("possibly_cloned", 4)
        assert state.failures == 1


def test_a_refused_or_cloned_passkey_counts_toward_the_same_lock_as_a_code() -> None:
    lockout = LockoutRules(max_failures=2)
    state, first = check_passkey(GuardState(), None, 0, NOW, lockout)
    assert first == Rejected("invalid", 1)
    state, second = check_passkey(state, Assertion("id1", 1), 7, NOW, lockout)
    assert isinstance(second, Rejected)
    assert (second.reason, second.locked_now) == ("possibly_cloned", True)  # said, and locks
    _, locked = check_passkey(state, Assertion("id1", 9), 7, NOW + timedelta(minutes=1), lockout)
    assert isinstance(locked, Rejected)
    assert locked.reason == "locked"


def login(**changes: object) -> Login:
    made = Login(
        "l1", "default", "k", "ada", "ada@example.com", "editor", "code_required", NOW, NOW
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_a_login_takes_the_kinds_it_asked_for_and_recovery_codes_once_enrolled() -> None:
    passkey_only = login(kinds=("passkey",))
    assert accepts(passkey_only, "passkey")
    assert not accepts(passkey_only, "totp")
    assert accepts(passkey_only, "recovery_code")
    registering = login(status="enrollment_required", kinds=("passkey", "totp"))
    assert accepts(registering, "totp")
    assert not accepts(registering, "recovery_code")


def test_a_passkey_may_go_unless_it_is_the_last_authenticator() -> None:
    one, two = PasskeyRecord("a", "Passkey 1", NOW), PasskeyRecord("b", "Passkey 2", NOW)
    passkeys_only = AuthenticatorRecord("c", NOW, NOW, totp=False, passkeys=(one, two))
    assert passkeys_only.may_remove({"a"})
    assert not passkeys_only.may_remove({"a", "b"})
    with_app = AuthenticatorRecord("c", NOW, NOW, totp=True, passkeys=(one,))
    assert with_app.may_remove({"a"})
    assert with_app.kinds == ("passkey", "totp")
