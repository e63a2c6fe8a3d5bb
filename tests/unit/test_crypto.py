import base64

import pytest

from shared.crypto import (
    CannotOpen,
    Keyring,
    KeyringError,
    SecretBox,
    code_context,
    credential_context,
)
from shared.identity import UserRef

ADA = UserRef("acme", "ada")
KEYS = Keyring.parse(Keyring.generate_spec("k2") + "," + Keyring.generate_spec("k1"))


def test_seals_and_opens_with_the_same_context() -> None:
    box = SecretBox(KEYS)
    sealed = box.seal("JBSWY3DPEHPK3PXP", credential_context(ADA, "c1"))
    assert sealed.key_id == "k2"
    assert "JBSWY3DPEHPK3PXP" not in sealed.model_dump_json()
    assert box.open(sealed, credential_context(ADA, "c1")) == "JBSWY3DPEHPK3PXP"


def test_every_seal_uses_a_fresh_nonce() -> None:
    box = SecretBox(KEYS)
    first, second = (box.seal("same", "ctx") for _ in range(2))
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_a_ciphertext_bound_to_the_same_user_id_of_another_organization_does_not_open() -> None:
    box = SecretBox(KEYS)
    sealed = box.seal("secret", credential_context(ADA, "c1"))
    with pytest.raises(CannotOpen):
        box.open(sealed, credential_context(UserRef("other-org", "ada"), "c1"))


def test_a_sealed_code_cannot_pass_as_a_secret() -> None:
    box = SecretBox(KEYS)
    sealed = box.seal("123456", code_context("login", "sub"))
    with pytest.raises(CannotOpen):
        box.open(sealed, credential_context(UserRef("login", "sub"), "c1"))


def test_tampering_is_detected() -> None:
    box = SecretBox(KEYS)
    sealed = box.seal("secret", "ctx")
    flipped = sealed.ciphertext[:-4] + ("AAAA" if sealed.ciphertext[-4:] != "AAAA" else "BBBB")
    with pytest.raises(CannotOpen):
        box.open(sealed.model_copy(update={"ciphertext": flipped}), "ctx")


def test_rotation_old_keys_still_open_new_key_seals() -> None:
    old = Keyring.parse(Keyring.generate_spec("old"))
    sealed = SecretBox(old).seal("secret", "ctx")
    rotated = Keyring.parse(
        Keyring.generate_spec("new") + "," + f"old:{base64.b64encode(old.keys['old']).decode()}"
    )
    assert SecretBox(rotated).open(sealed, "ctx") == "secret"
    assert SecretBox(rotated).seal("x", "ctx").key_id == "new"


def test_a_key_missing_from_the_ring_cannot_open() -> None:
    sealed = SecretBox(Keyring.parse(Keyring.generate_spec("gone"))).seal("s", "ctx")
    with pytest.raises(CannotOpen, match="no key 'gone'"):
        SecretBox(KEYS).open(sealed, "ctx")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nokey", "key_id:base64_key"),
        ("k:!!!", "not valid base64"),
        ("k:AAAA", "32 bytes"),
        ("k:" + "A" * 43 + "=,k:" + "B" * 43 + "=", "appears twice"),
    ],
)
def test_malformed_keyrings_are_refused_with_a_reason(spec: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message):
        Keyring.parse(spec)
