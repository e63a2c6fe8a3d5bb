"""What both ceremonies share: the relying party a challenge was made for, kept with the
challenge, and the user handle. The parsing and checking of the browser's answers is
py_webauthn's (services/*/ceremony.py): nothing here reads CBOR or COSE."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from shared.events import RelyingParty, UserVerification
from shared.identity import UserRef

USER_HANDLE_PURPOSE = "webauthn-user-handles"
# How long the browser may wait for the user at the authenticator (a hint to it);
# the challenge itself lives as long as the login.
CEREMONY_TIMEOUT_MS = 120_000


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def user_handle(user: UserRef, key: bytes) -> bytes:
    """The user.id authenticators keep: stable per user, and no personal data (WebAuthn
    14.6.1), a keyed hash of the organization and user id."""
    return hmac.new(key, user.key.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Challenge:
    """A single-use challenge, and what its answer must match."""

    login_id: str
    user: UserRef
    challenge: str  # base64url
    rp_id: str
    origins: tuple[str, ...]
    user_verification: UserVerification
    expires_at: datetime

    @classmethod
    def for_party(
        cls,
        login_id: str,
        user: UserRef,
        challenge: bytes,
        party: RelyingParty,
        user_verification: UserVerification,
        expires_at: datetime,
    ) -> Challenge:
        return cls(
            login_id,
            user,
            b64url(challenge),
            party.id,
            party.origins,
            user_verification,
            expires_at,
        )

    def live(self, now: datetime) -> bool:
        return now < self.expires_at
