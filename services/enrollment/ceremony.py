"""The registration ceremony (WebAuthn 7.1), by py_webauthn: the options a browser
needs, and the check of the attestation it answers with."""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from webauthn import generate_registration_options, options_to_json, verify_registration_response
from webauthn.helpers import parse_registration_credential_json
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from shared.events import Passkey, RelyingParty, UserVerification
from shared.passkeys import CEREMONY_TIMEOUT_MS, Challenge, b64url, from_b64url

MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn 6.1: "at most 1023 bytes long"


class RegistrationRefused(Exception):
    """The browser's answer does not register a passkey (its reason is for the log)."""


def registration_options(
    party: RelyingParty,
    name: str,
    handle: bytes,
    account: str,
    held: tuple[str, ...],
    user_verification: UserVerification,
) -> tuple[str, bytes]:
    """PublicKeyCredentialCreationOptionsJSON, and its challenge. Attestation "none":
    the service trusts no vendor list, so a statement would only add personal data; the
    passkeys the user holds are excluded, so one authenticator registers once."""
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=party.id,
        rp_name=party.name or name,  # what the browser shows: the organization
        user_id=handle,
        user_name=account,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement(user_verification),
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=from_b64url(i)) for i in held],
    )
    return options_to_json(options), challenge


def verify_registration(answer: str, challenge: Challenge, now: datetime, name: str) -> Passkey:
    """The passkey the attestation registers, checked against the challenge, the RP ID
    and the origins it was made for; user presence always, verification if required."""
    try:
        parsed = parse_registration_credential_json(json.loads(answer))
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=from_b64url(challenge.challenge),
            expected_rp_id=challenge.rp_id,
            expected_origin=list(challenge.origins),
            require_user_presence=True,
            require_user_verification=challenge.user_verification == "required",
        )
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
            raise RegistrationRefused("credential_id_too_long")
        return Passkey(  # its bounds refuse an oversized public key too
            id=b64url(verified.credential_id),
            public_key=b64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            aaguid=verified.aaguid,
            transports=tuple(t.value for t in parsed.response.transports or ())[:8],
            backup_eligible=verified.credential_device_type.value == "multi_device",
            backed_up=verified.credential_backed_up,
            name=name,
            created_at=now,
        )
    except RegistrationRefused:
        raise
    # The parsers raise many kinds of error on hostile input: each one is a refusal.
    except Exception as exc:
        raise RegistrationRefused(type(exc).__name__) from None
