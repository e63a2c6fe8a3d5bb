"""Passkeys through the real processes: both WebAuthn ceremonies run by the API, answered
by a software authenticator (tests/soft_authenticator.py), with two verification
replicas racing on one assertion."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.passkeys import b64url
from tests.e2e.test_operations import wait_until
from tests.e2e.test_organizations import Organization, new_organization
from tests.e2e.test_self_service import notices_of
from tests.real_stack import Stack, new_user
from tests.soft_authenticator import SoftAuthenticator

# Starts a second verification replica (and stops it): a stack of its own.
pytestmark = [pytest.mark.e2e, pytest.mark.own_stack]

ORIGIN = "https://login.acme.localhost"
RELYING_PARTY = {"id": "localhost", "name": "Acme", "origins": [ORIGIN]}


@pytest.fixture(scope="module")
def acme(stack: Stack) -> Organization:
    organization = new_organization(stack, issuer="Acme")
    policy(organization)
    return organization


def policy(organization: Organization, **rules: Any) -> None:
    body = {"user_types": ["editor"], "relying_party": RELYING_PARTY, **rules}
    answer = organization.admin("PUT", "/v1/admin/policy", json=body)
    assert answer.status_code == 200, answer.text


def passkey(
    organization: Organization, login_id: str, credential: dict[str, Any]
) -> httpx.Response:
    return organization.client(
        "POST", f"/v1/logins/{login_id}/passkey", json={"credential": credential}
    )


def register(organization: Organization, user: str) -> SoftAuthenticator:
    """A user's first sign-in, registering a passkey: their first recovery codes come."""
    login = organization.start_login(user)
    assert login["status"] == "enrollment_required", login
    assert login["passkey"]["ceremony"] == "registration"
    authenticator = SoftAuthenticator(ORIGIN)
    answered = passkey(
        organization, login["login_id"], authenticator.create(login["passkey"]["options"])
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "authenticated"
    assert answered.json()["passed_by"] == "passkey"
    assert len(answered.json()["recovery_codes"]) == 10
    return authenticator


def signing_in(organization: Organization, user: str) -> dict[str, Any]:
    login = organization.start_login(user)
    assert login["status"] == "code_required", login
    assert login["passkey"]["ceremony"] == "authentication", login
    return login


def test_a_passkey_registered_at_the_first_sign_in_signs_in_later_with_no_code(
    acme: Organization,
) -> None:
    user = new_user()
    first = acme.start_login(user)
    assert first["kinds"] == ["passkey", "totp"]  # the user chooses
    assert first["enrollment"]["otpauth_uri"].startswith("otpauth://totp/")
    authenticator = SoftAuthenticator(ORIGIN)
    registered = passkey(acme, first["login_id"], authenticator.create(first["passkey"]["options"]))
    assert registered.status_code == 200, registered.text

    later = signing_in(acme, user)
    assert later["kinds"] == ["passkey"]  # the app's QR offered beside it is void
    assert later["enrollment"] is None
    allowed = later["passkey"]["options"]["allowCredentials"]
    assert [c["id"] for c in allowed] == [b64url(i) for i in authenticator.passkeys]
    signed = passkey(acme, later["login_id"], authenticator.get(later["passkey"]["options"]))
    assert signed.status_code == 200, signed.text
    assert signed.json()["passed_by"] == "passkey"
    code = acme.submit(signing_in(acme, user)["login_id"], "123456")
    assert code.status_code == 409, code.text
    assert code.json()["error"]["code"] == "kind_not_offered"


def test_a_user_who_needs_a_passkey_is_never_shown_a_qr(stack: Stack) -> None:
    organization = new_organization(stack)
    user = new_user()
    policy(organization, require_passkey_users=[user])
    login = organization.start_login(user)
    assert login["status"] == "enrollment_required"
    assert login["enrollment"] is None
    assert login["kinds"] == ["passkey"]
    assert login["passkey"]["ceremony"] == "registration"
    refused = organization.submit(login["login_id"], "123456")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "kind_not_offered"


@pytest.mark.parametrize(
    "tamper",
    [{"origin": "https://phish.example"}, {"rp_id": "example.com"}],
    ids=["another_origin", "another_rp_id"],
)
def test_an_assertion_made_for_another_origin_or_rp_id_is_refused(
    acme: Organization, tamper: dict[str, str]
) -> None:
    user = new_user()
    authenticator = register(acme, user)
    login = signing_in(acme, user)
    forged = authenticator.get(login["passkey"]["options"], **tamper)  # type: ignore[arg-type]
    refused = passkey(acme, login["login_id"], forged)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "passkey_refused"
    assert refused.json()["error"]["attempts_left"] == 4
    honest = passkey(acme, login["login_id"], authenticator.get(login["passkey"]["options"]))
    assert honest.status_code == 200, honest.text


def test_a_replayed_assertion_is_refused(acme: Organization) -> None:
    user = new_user()
    authenticator = register(acme, user)
    first = signing_in(acme, user)
    answer = authenticator.get(first["passkey"]["options"])
    assert passkey(acme, first["login_id"], answer).status_code == 200
    second = signing_in(acme, user)
    replayed = passkey(acme, second["login_id"], answer)
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"]["code"] == "passkey_refused"


def test_a_counter_that_goes_backwards_is_refused_and_the_user_is_told(
    acme: Organization,
) -> None:
    user = new_user()
    authenticator = register(acme, user)
    login = signing_in(acme, user)
    assert (
        passkey(
            acme, login["login_id"], authenticator.get(login["passkey"]["options"], counter=9)
        ).status_code
        == 200
    )
    login = signing_in(acme, user)
    cloned = passkey(
        acme, login["login_id"], authenticator.get(login["passkey"]["options"], counter=3)
    )
    assert cloned.status_code == 400, cloned.text
    assert cloned.json()["error"]["code"] == "possibly_cloned"
    notices = notices_of(acme.stack, user, 1)
    assert "passkey_possibly_cloned" in [n["kind"] for n in notices]


def test_five_refused_assertions_lock_the_user_and_then_a_right_one_is_refused(
    acme: Organization,
) -> None:
    user = new_user()
    authenticator = register(acme, user)
    login = signing_in(acme, user)
    options = login["passkey"]["options"]
    for left in (4, 3, 2, 1):
        wrong = passkey(
            acme, login["login_id"], authenticator.get(options, origin="https://x.example")
        )
        assert wrong.json()["error"]["attempts_left"] == left, wrong.text
    locking = passkey(
        acme, login["login_id"], authenticator.get(options, origin="https://x.example")
    )
    assert locking.status_code == 423, locking.text
    right = passkey(acme, login["login_id"], authenticator.get(options))
    assert right.status_code == 423, right.text


def test_a_reset_removes_the_passkeys_and_the_next_sign_in_registers_again(
    acme: Organization,
) -> None:
    user = new_user()
    old = register(acme, user)
    reset = acme.admin("POST", f"/v1/admin/users/{user}/authenticator/reset")
    assert reset.status_code == 200, reset.text
    login = acme.start_login(user)
    assert login["status"] == "enrollment_required"
    assert login["passkey"]["ceremony"] == "registration"
    assert login["passkey"]["options"]["excludeCredentials"] == []
    assert old.passkeys  # the old passkey is nobody's now: the new login does not ask for it
    register(acme, new_user())


def test_two_verification_replicas_racing_on_one_assertion_let_exactly_one_pass(
    acme: Organization,
) -> None:
    stack = acme.stack
    stack.processes.start_service("verification", replica=1)
    try:
        replica_log = stack.processes.children["verification-1"].log_path
        assert replica_log is not None
        wait_until(lambda: "service_started" in replica_log.read_text())
        for _ in range(6):
            user = new_user()
            authenticator = register(acme, user)
            login = signing_in(acme, user)
            answer = authenticator.get(login["passkey"]["options"])
            login_id = login["login_id"]
            with ThreadPoolExecutor(2) as pool:
                sent = [pool.submit(passkey, acme, login_id, answer) for _ in range(2)]
                answers = [s.result() for s in sent]
            statuses = sorted(a.status_code for a in answers)
            assert statuses in ([200, 400], [200, 409]), [a.text for a in answers]
        assert '"kind": "passkey"' in replica_log.read_text()  # the replica took its share
    finally:
        stack.processes.children.pop("verification-1").stop()


def add_passkey(
    organization: Organization, login_id: str
) -> tuple[SoftAuthenticator, httpx.Response]:
    """One more passkey for the user of a login this key just passed."""
    begun = organization.client("POST", f"/v1/logins/{login_id}/passkeys/registration")
    assert begun.status_code == 200, begun.text
    assert begun.json()["ceremony"] == "registration"
    authenticator = SoftAuthenticator(ORIGIN)
    answer = authenticator.create(begun.json()["options"])
    added = organization.client(
        "POST", f"/v1/logins/{login_id}/passkeys", json={"credential": answer}
    )
    return authenticator, added


def test_a_user_with_an_app_and_a_passkey_may_use_either(acme: Organization) -> None:
    user = new_user()
    secret = acme.enroll(user)  # the app first: the QR, then its code
    passed = acme.start_login(user)
    assert passed["kinds"] == ["totp"]
    assert passed["passkey"] is None
    assert acme.submit(passed["login_id"], acme.stack.code(secret, 30)).status_code == 200
    authenticator, added = add_passkey(acme, passed["login_id"])
    assert added.status_code == 201, added.text
    (listed,) = added.json()["passkeys"]

    by_passkey = signing_in(acme, user)
    assert by_passkey["kinds"] == ["passkey", "totp"]
    signed = passkey(
        acme, by_passkey["login_id"], authenticator.get(by_passkey["passkey"]["options"])
    )
    assert signed.status_code == 200, signed.text
    by_code = signing_in(acme, user)
    acme.stack.next_step()
    coded = acme.submit(by_code["login_id"], acme.stack.code(secret, 30))
    assert coded.status_code == 200, coded.text
    assert coded.json()["passed_by"] == "code"

    seen = acme.admin("GET", f"/v1/admin/users/{user}/passkeys").json()["passkeys"]
    assert [p["passkey_id"] for p in seen] == [listed["passkey_id"]]
    assert seen[0]["last_used_at"] is not None


def test_a_passkey_is_added_only_right_after_a_pass_and_removed_but_never_the_last(
    acme: Organization,
) -> None:
    user = new_user()
    authenticator = register(acme, user)
    login = signing_in(acme, user)
    early = acme.client("POST", f"/v1/logins/{login['login_id']}/passkeys/registration")
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "code_not_passed"
    assert (
        passkey(acme, login["login_id"], authenticator.get(login["passkey"]["options"])).status_code
        == 200
    )
    second, added = add_passkey(acme, login["login_id"])
    assert added.status_code == 201, added.text
    first_id, second_id = (p["passkey_id"] for p in added.json()["passkeys"])

    both = signing_in(acme, user)
    allowed = {c["id"] for c in both["passkey"]["options"]["allowCredentials"]}
    assert allowed == {first_id, second_id}
    assert (
        passkey(acme, both["login_id"], second.get(both["passkey"]["options"])).status_code == 200
    )
    removed = acme.client("DELETE", f"/v1/logins/{both['login_id']}/passkeys/{first_id}")
    assert removed.status_code == 200, removed.text
    assert [p["passkey_id"] for p in removed.json()["passkeys"]] == [second_id]
    last = acme.admin("DELETE", f"/v1/admin/users/{user}/passkeys/{second_id}")
    assert last.status_code == 409
    assert last.json()["error"]["code"] == "last_authenticator"

    after = signing_in(acme, user)
    # The removed passkey signs anyway (its device still holds it): refused.
    options = {**after["passkey"]["options"], "allowCredentials": [{"id": first_id}]}
    refused = passkey(acme, after["login_id"], authenticator.get(options))
    assert refused.status_code == 400, refused.text  # the removed passkey signs in no more


# The review of this feature as an attacker (docs/passkeys.md, "Review"): each failed
# before its fix.


def passkeys_only_with_two(acme: Organization, user: str) -> tuple[str, list[str]]:
    """A user holding two passkeys and no app, and a login they just passed."""
    authenticator = register(acme, user)
    login = signing_in(acme, user)
    signed = passkey(acme, login["login_id"], authenticator.get(login["passkey"]["options"]))
    assert signed.status_code == 200, signed.text
    _, added = add_passkey(acme, login["login_id"])
    assert added.status_code == 201, added.text
    return login["login_id"], [p["passkey_id"] for p in added.json()["passkeys"]]


def test_two_removals_at_once_never_remove_the_last_authenticator(acme: Organization) -> None:
    user = new_user()
    login_id, ids = passkeys_only_with_two(acme, user)
    with ThreadPoolExecutor(2) as pool:
        sent = [
            pool.submit(acme.client, "DELETE", f"/v1/logins/{login_id}/passkeys/{i}") for i in ids
        ]
        answers = [s.result() for s in sent]
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    left = acme.admin("GET", f"/v1/admin/users/{user}/passkeys").json()["passkeys"]
    assert len(left) == 1
    assert signing_in(acme, user)["kinds"] == ["passkey"]


def test_a_login_passed_before_a_reset_changes_nothing_of_the_new_passkeys(
    acme: Organization,
) -> None:
    user = new_user()
    old_login, _ = passkeys_only_with_two(acme, user)
    assert acme.admin("POST", f"/v1/admin/users/{user}/authenticator/reset").status_code == 200
    new_login, new_ids = passkeys_only_with_two(acme, user)
    listed = acme.client("GET", f"/v1/logins/{old_login}/passkeys")
    assert listed.status_code == 409, listed.text
    removed = acme.client("DELETE", f"/v1/logins/{old_login}/passkeys/{new_ids[0]}")
    assert removed.status_code == 409, removed.text
    assert len(acme.client("GET", f"/v1/logins/{new_login}/passkeys").json()["passkeys"]) == 2


def test_a_user_who_must_use_a_passkey_cannot_remove_it_to_get_back_to_codes(
    stack: Stack,
) -> None:
    organization = new_organization(stack)
    policy(organization)
    user = new_user()
    secret = organization.enroll(user)
    login = organization.start_login(user)
    assert organization.submit(login["login_id"], stack.code(secret, 30)).status_code == 200
    _, added = add_passkey(organization, login["login_id"])
    (only,) = added.json()["passkeys"]
    policy(organization, require_passkey_users=[user])
    removed = organization.client(
        "DELETE", f"/v1/logins/{login['login_id']}/passkeys/{only['passkey_id']}"
    )
    assert removed.status_code == 409, removed.text
    assert removed.json()["error"]["code"] == "last_authenticator"


def test_requiring_passkeys_needs_a_relying_party_and_passkeys_outlive_its_removal(
    stack: Stack,
) -> None:
    organization = new_organization(stack)
    nowhere = organization.admin(
        "PUT", "/v1/admin/policy", json={"user_types": ["editor"], "require_passkey_users": ["x"]}
    )
    assert nowhere.status_code == 409, nowhere.text
    assert nowhere.json()["error"]["code"] == "no_relying_party"
    policy(organization)
    user = new_user()
    authenticator = register(organization, user)
    dropped = organization.admin("PUT", "/v1/admin/policy", json={"user_types": ["editor"]})
    assert dropped.status_code == 200, dropped.text
    login = signing_in(organization, user)  # not left pending: where it was made, it works
    signed = passkey(
        organization, login["login_id"], authenticator.get(login["passkey"]["options"])
    )
    assert signed.status_code == 200, signed.text
    newcomer = organization.start_login(new_user())
    assert newcomer["kinds"] == ["totp"]  # no new passkeys without a relying party


def test_malformed_credentials_are_clear_refusals_and_lose_nothing(acme: Organization) -> None:
    user = new_user()
    login = acme.start_login(user)
    deep = "[" * 945 + "]" * 945
    body = '{"credential": {"rawId": "AA", "response": {"x": ' + deep + "}}}"
    nested = acme.stack.http.post(
        f"/v1/logins/{login['login_id']}/passkey",
        content=body,
        headers={"Authorization": f"Bearer {acme.client_key}", "Content-Type": "application/json"},
    )
    assert nested.status_code == 422, nested.text
    long_id = SoftAuthenticator(ORIGIN).create(login["passkey"]["options"], id_length=1100)
    refused = passkey(acme, login["login_id"], long_id)
    assert refused.status_code == 400, refused.text  # answered, not a 504 and a dead letter
    assert refused.json()["error"]["code"] == "passkey_refused"
    honest = SoftAuthenticator(ORIGIN).create(login["passkey"]["options"])
    assert passkey(acme, login["login_id"], honest).status_code == 200


def test_a_locked_user_adds_no_passkey_and_the_admin_still_sees_the_lock(
    acme: Organization,
) -> None:
    user = new_user()
    authenticator = register(acme, user)
    passed = signing_in(acme, user)
    answer = authenticator.get(passed["passkey"]["options"])
    assert passkey(acme, passed["login_id"], answer).status_code == 200
    locking = signing_in(acme, user)
    for _ in range(5):
        forged = authenticator.get(locking["passkey"]["options"], origin="https://x.example")
        passkey(acme, locking["login_id"], forged)
    begun = acme.client("POST", f"/v1/logins/{passed['login_id']}/passkeys/registration")
    assert begun.status_code == 200, begun.text
    answer = SoftAuthenticator(ORIGIN).create(begun.json()["options"])
    added = acme.client(
        "POST", f"/v1/logins/{passed['login_id']}/passkeys", json={"credential": answer}
    )
    assert added.status_code == 423, added.text
    state = acme.admin("GET", f"/v1/admin/users/{user}/authenticator").json()
    assert state["locked_until"] is not None
