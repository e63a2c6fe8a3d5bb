"""The authentication ceremony (WebAuthn 7.2), by py_webauthn: the options a browser
needs, and the check of the assertion it answers with. The counter is judged by the
domain (check_passkey), so the library is given none to compare."""

from __future__ import annotations

import json
import secrets

from webauthn import (
    generate_authentication_options,
    options_to_json,
    verify_authentication_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.structs import (
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    UserVerificationRequirement,
)

from services.verification.domain import Assertion
from shared.events import UserVerification
from shared.passkeys import CEREMONY_TIMEOUT_MS, Challenge, b64url, from_b64url

_TRANSPORTS = {t.value for t in AuthenticatorTransport}


def authentication_options(
    rp_id: str, allowed: dict[str, tuple[str, ...]], user_verification: UserVerification
) -> tuple[str, bytes]:
    """PublicKeyCredentialRequestOptionsJSON for the user's passkeys (id -> transports),
    and its challenge."""
    challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=[
            PublicKeyCredentialDescriptor(
                id=from_b64url(passkey_id),
                transports=[AuthenticatorTransport(t) for t in transports if t in _TRANSPORTS],
            )
            for passkey_id, transports in allowed.items()
        ],
        user_verification=UserVerificationRequirement(user_verification),
    )
    return options_to_json(options), challenge


def passkey_id_of(answer: str) -> str | None:
    """Which passkey the answer says signed (base64url), before anything is checked."""
    try:
        raw = json.loads(answer).get("rawId")
    except (ValueError, AttributeError):
        return None
    if not isinstance(raw, str) or not raw or len(raw) > 1400:
        return None
    try:
        return b64url(from_b64url(raw))  # one spelling, whatever padding was sent
    except ValueError:
        return None


def verify_assertion(answer: str, challenge: Challenge, public_key: str) -> Assertion | None:
    """The assertion's signer and counter if its signature, challenge, origin, RP ID and
    user presence (and verification, where required) check; None otherwise."""
    try:
        parsed = parse_authentication_credential_json(json.loads(answer))
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=from_b64url(challenge.challenge),
            expected_rp_id=challenge.rp_id,
            expected_origin=list(challenge.origins),
            credential_public_key=from_b64url(public_key),
            credential_current_sign_count=0,
            require_user_verification=challenge.user_verification == "required",
        )
    # The parsers raise many kinds of error on hostile input: each one is a refusal.
    except Exception:
        return None
    return Assertion(b64url(verified.credential_id), verified.new_sign_count)
