"""Both WebAuthn ceremonies, as the services run them (py_webauthn), answered by a
software authenticator: what passes and what is refused, before any stream or store."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.enrollment.ceremony import (
    RegistrationRefused,
    registration_options,
    verify_registration,
)
from services.gateway.presentation.passkeys import checked_answer, parsed_answer
from services.verification.ceremony import authentication_options, passkey_id_of, verify_assertion
from services.verification.domain import GuardState, LockoutRules, check_passkey
from shared.events import Passkey, RelyingParty
from shared.identity import UserRef
from shared.passkeys import Challenge, b64url, from_b64url, user_handle
from tests.soft_authenticator import SoftAuthenticator

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ORIGIN = "http://localhost:8000"
PARTY = RelyingParty(id="localhost", name="Imageshop", origins=(ORIGIN,))
USER = UserRef("default", "ada")


def challenge_of(options: str, raw: bytes) -> Challenge:
    assert json.loads(options)["challenge"] == b64url(raw)
    return Challenge.for_party("login-1", USER, raw, PARTY, "preferred", NOW + timedelta(minutes=5))


def registered(authenticator: SoftAuthenticator) -> Passkey:
    options, raw = registration_options(
        PARTY, "Imageshop", user_handle(USER, b"k" * 32), "ada@example.com", (), "preferred"
    )
    answer = authenticator.create(json.loads(options))
    return verify_registration(json.dumps(answer), challenge_of(options, raw), NOW, "Passkey 1")


def signed(
    authenticator: SoftAuthenticator, passkey: Passkey, **tamper: object
) -> tuple[str, Challenge]:
    options, raw = authentication_options(PARTY.id, {passkey.id: passkey.transports}, "preferred")
    answer = authenticator.get(json.loads(options), **tamper)  # type: ignore[arg-type]
    return json.dumps(answer), challenge_of(options, raw)


def test_a_registered_passkey_signs_in_and_its_counter_moves_on() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = registered(authenticator)
    assert passkey.transports == ("internal", "hybrid")
    answer, challenge = signed(authenticator, passkey)
    assertion = verify_assertion(answer, challenge, passkey.public_key)
    assert assertion is not None
    assert assertion.passkey_id == passkey.id == passkey_id_of(answer)
    assert assertion.sign_count == 1


@pytest.mark.parametrize(
    "tamper",
    [{"origin": "https://phish.example"}, {"rp_id": "example.com"}],
    ids=["another_origin", "another_rp_id"],
)
def test_an_assertion_made_elsewhere_is_refused(tamper: dict[str, str]) -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = registered(authenticator)
    answer, challenge = signed(authenticator, passkey, **tamper)
    assert verify_assertion(answer, challenge, passkey.public_key) is None


def test_an_assertion_for_another_challenge_is_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = registered(authenticator)
    answer, _ = signed(authenticator, passkey)
    _, other = signed(authenticator, passkey)
    assert verify_assertion(answer, other, passkey.public_key) is None


def test_a_registration_for_another_origin_is_refused() -> None:
    options, raw = registration_options(
        PARTY, "Imageshop", b"h" * 32, "ada@example.com", (), "preferred"
    )
    answer = SoftAuthenticator("https://phish.example").create(json.loads(options))
    with pytest.raises(RegistrationRefused):
        verify_registration(json.dumps(answer), challenge_of(options, raw), NOW, "Passkey 1")


def test_registration_excludes_the_passkeys_the_user_holds() -> None:
    options, _ = registration_options(
        PARTY.model_copy(update={"name": ""}),
        "Acme",
        b"h" * 32,
        "ada",
        ("AAAA", "BBBB"),
        "required",
    )
    parsed = json.loads(options)
    assert [c["id"] for c in parsed["excludeCredentials"]] == ["AAAA", "BBBB"]
    assert parsed["authenticatorSelection"]["userVerification"] == "required"
    assert parsed["attestation"] == "none"
    assert parsed["rp"] == {"id": "localhost", "name": "Acme"}  # the organization's name
    assert from_b64url(parsed["user"]["id"]) == b"h" * 32


def test_user_verification_is_refused_when_required_and_missing() -> None:
    authenticator = SoftAuthenticator(ORIGIN, user_verified=False)
    passkey = registered(authenticator)
    answer, challenge = signed(authenticator, passkey)
    strict = Challenge(**{**challenge.__dict__, "user_verification": "required"})
    assert verify_assertion(answer, challenge, passkey.public_key) is not None
    assert verify_assertion(answer, strict, passkey.public_key) is None


def test_garbage_is_refused_not_raised() -> None:
    passkey = registered(SoftAuthenticator(ORIGIN))
    options, raw = authentication_options(PARTY.id, {passkey.id: ()}, "preferred")
    live = challenge_of(options, raw)
    for junk in ("{", "[]", '{"rawId": 5}', json.dumps({"rawId": "AA", "response": {}})):
        assert verify_assertion(junk, live, passkey.public_key) is None
    assert passkey_id_of("{") is None


def test_a_counter_that_goes_back_is_refused_as_possibly_cloned_and_counts() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = registered(authenticator)
    answer, challenge = signed(authenticator, passkey, counter=7)
    assertion = verify_assertion(answer, challenge, passkey.public_key)
    assert assertion is not None
    state, outcome = check_passkey(GuardState(), assertion, 9, NOW, LockoutRules())
    assert outcome.reason == "possibly_cloned"  # type: ignore[union-attr]
    assert state.failures == 1
    _, passed = check_passkey(GuardState(failures=3), assertion, 6, NOW, LockoutRules())
    assert not hasattr(passed, "reason")


def test_a_credential_id_longer_than_webauthn_allows_is_refused_not_raised() -> None:
    options, raw = registration_options(PARTY, "Acme", b"h" * 32, "ada", (), "preferred")
    answer = SoftAuthenticator(ORIGIN).create(json.loads(options), id_length=1100)
    with pytest.raises(RegistrationRefused, match="credential_id_too_long"):
        verify_registration(json.dumps(answer), challenge_of(options, raw), NOW, "Passkey 1")


def test_an_answer_nested_past_the_parser_is_a_clear_refusal() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(ValueError, match="nested too deeply"):
        parsed_answer('{"rawId": "AA", "response": {"x": ' + deep + "}}")
    nested: dict[str, object] = {"rawId": "AA", "response": {}}
    inner: list[object] = []
    nested["response"] = {"x": inner}
    for _ in range(3000):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    with pytest.raises(ValueError, match="nested too deeply"):
        checked_answer(nested)
