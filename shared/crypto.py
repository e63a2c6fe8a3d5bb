"""Secrets at rest and in transit: AES-256-GCM under a keyring.

Every ciphertext carries the id of the key that sealed it, so keys can rotate:
the first key in the ring seals, every key in the ring opens. The associated
data binds a ciphertext to its purpose and owner (a sealed secret of user A
cannot be replayed as user B's, nor a sealed code as a secret).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field

from shared.identity import UserRef

_NONCE_BYTES = 12
_KEY_BYTES = 32


class Sealed(BaseModel):
    """A ciphertext as it travels and rests: never the clear value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(min_length=1, max_length=64)
    nonce: str = Field(min_length=16, max_length=16, description="base64, 96 bits")
    # Up to 12 KiB sealed: a passkey's answer (the browser's credential JSON) is sealed
    # like a code, and with attestation "none" stays far below.
    ciphertext: str = Field(min_length=1, max_length=16_384, description="base64")


class KeyringError(ValueError):
    """The configured keyring is malformed."""


class CannotOpen(Exception):
    """A ciphertext is unknown to the keyring, tampered with, or bound to other data."""


@dataclass(frozen=True)
class Keyring:
    active_key_id: str
    keys: dict[str, bytes] = field(repr=False)

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Parse ``kid:base64key[,kid:base64key...]``; the first key seals."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in spec.split(",")):
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id:
                raise KeyringError("each key must be written 'key_id:base64_key'")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise KeyringError(f"key {key_id!r} is not valid base64") from exc
            if len(key) != _KEY_BYTES:
                raise KeyringError(f"key {key_id!r} must be 32 bytes (AES-256)")
            if key_id in keys:
                raise KeyringError(f"key id {key_id!r} appears twice")
            keys[key_id] = key
        return cls(active_key_id=next(iter(keys)), keys=keys)

    def derive(self, purpose: str) -> bytes:
        """A 256-bit key for another purpose (e.g. CSRF tokens), from the active key (HKDF)."""
        hkdf = HKDF(algorithm=SHA256(), length=_KEY_BYTES, salt=None, info=purpose.encode())
        return hkdf.derive(self.keys[self.active_key_id])

    @staticmethod
    def generate_spec(key_id: str) -> str:
        return f"{key_id}:{base64.b64encode(os.urandom(_KEY_BYTES)).decode()}"


@dataclass(frozen=True)
class SecretBox:
    keyring: Keyring

    def seal(self, plaintext: str, context: str) -> Sealed:
        nonce = os.urandom(_NONCE_BYTES)
        aead = AESGCM(self.keyring.keys[self.keyring.active_key_id])
        ciphertext = aead.encrypt(nonce, plaintext.encode(), context.encode())
        return Sealed(
            key_id=self.keyring.active_key_id,
            nonce=base64.b64encode(nonce).decode(),
            ciphertext=base64.b64encode(ciphertext).decode(),
        )

    def open(self, sealed: Sealed, context: str) -> str:
        key = self.keyring.keys.get(sealed.key_id)
        if key is None:
            raise CannotOpen(f"no key {sealed.key_id!r} in the keyring")
        try:
            plaintext = AESGCM(key).decrypt(
                base64.b64decode(sealed.nonce),
                base64.b64decode(sealed.ciphertext),
                context.encode(),
            )
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise CannotOpen("ciphertext does not open under its key and context") from exc
        return plaintext.decode()


# Associated data: one function per purpose, so producer and consumer agree.
def credential_context(user: UserRef, credential_id: str) -> str:
    return f"credential:{user.key}:{credential_id}"


def enrollment_context(login_id: str) -> str:
    return f"enrollment:{login_id}"


def code_context(login_id: str, submission_id: str) -> str:
    return f"code:{login_id}:{submission_id}"


def recovery_codes_context(login_id: str) -> str:
    return f"recovery-codes:{login_id}"


def resync_context(user: UserRef, operation_id: str) -> str:
    return f"resync:{user.key}:{operation_id}"
