"""A passkey authenticator in software, for tests that drive both WebAuthn ceremonies
from Python: ES256 keys, a signature counter per passkey, "none" attestation. The
structures (authenticator data, attestation object, client data) are python-fido2's:
nothing here encodes CBOR or COSE by hand. It can also misbehave on purpose: sign for
another origin or RP ID, or with a counter that goes backwards (a clone)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.webauthn import (
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

from shared.passkeys import b64url, from_b64url

FLAGS = AuthenticatorData.FLAG
AAGUID = bytes.fromhex("00000000000000000000000000000000")


@dataclass
class SoftPasskey:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0


@dataclass
class SoftAuthenticator:
    origin: str
    passkeys: dict[bytes, SoftPasskey] = field(default_factory=dict)
    user_verified: bool = True

    def create(
        self, options: dict[str, Any], origin: str | None = None, id_length: int = 32
    ) -> dict[str, Any]:
        """navigator.credentials.create(): RegistrationResponseJSON (``id_length``: a
        credential id of that many bytes, WebAuthn allowing at most 1023)."""
        rp_id = options["rp"]["id"]
        excluded = {from_b64url(c["id"]) for c in options.get("excludeCredentials", [])}
        assert not excluded & set(self.passkeys), "this authenticator is excluded"
        key = ec.generate_private_key(ec.SECP256R1())
        credential_id = secrets.token_bytes(id_length)
        passkey = SoftPasskey(credential_id, key, rp_id, from_b64url(options["user"]["id"]))
        self.passkeys[credential_id] = passkey
        attested = AttestedCredentialData.create(
            AAGUID, credential_id, ES256.from_cryptography_key(key.public_key())
        )
        data = AuthenticatorData.create(
            hashlib.sha256(rp_id.encode()).digest(), self._flags() | FLAGS.AT, 0, attested
        )
        client = CollectedClientData.create(
            "webauthn.create", options["challenge"], origin or self.origin
        )
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client),
                "attestationObject": b64url(AttestationObject.create("none", data, {})),
                "transports": ["internal", "hybrid"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        origin: str | None = None,
        rp_id: str | None = None,
        counter: int | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): AuthenticationResponseJSON, by the first allowed
        passkey held; ``origin``, ``rp_id`` and ``counter`` override what an honest
        authenticator would use (the counter otherwise goes up by one)."""
        allowed = [from_b64url(c["id"]) for c in options.get("allowCredentials", [])]
        passkey = next(self.passkeys[i] for i in allowed if i in self.passkeys)
        passkey.counter = passkey.counter + 1 if counter is None else counter
        signed_for = rp_id or passkey.rp_id
        data = AuthenticatorData.create(
            hashlib.sha256(signed_for.encode()).digest(), self._flags(), passkey.counter
        )
        client = CollectedClientData.create(
            "webauthn.get", options["challenge"], origin or self.origin
        )
        signature = passkey.key.sign(
            bytes(data) + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(passkey.credential_id),
            "rawId": b64url(passkey.credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client),
                "authenticatorData": b64url(data),
                "signature": b64url(signature),
                "userHandle": b64url(passkey.user_handle),
            },
        }

    def _flags(self) -> AuthenticatorData.FLAG:
        return FLAGS.UP | (FLAGS.UV if self.user_verified else FLAGS(0))
