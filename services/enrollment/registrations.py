"""Passkey registration: options for a login (the first authenticator, or one more for a
user who just signed in), the browser's attestation checked against them, the passkey
published for verification (which answers the login, as it does an app's confirming
code), and passkeys removed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from services.enrollment.ceremony import (
    RegistrationRefused,
    registration_options,
    verify_registration,
)
from services.enrollment.domain import Credential, may_add_passkey
from services.enrollment.store import CredentialStore
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox, code_context
from shared.events import (
    CodeRejected,
    CodeSubmitted,
    CredentialRegistered,
    Passkey,
    PasskeyRegistrationOpened,
    PasskeyRegistrationRequested,
    PasskeysRemoved,
    RejectReason,
    RelyingParty,
    UserVerification,
    reply_envelope,
)
from shared.messaging import Publisher, confirm_reset, publish_correlated
from shared.passkeys import Challenge, user_handle

log = structlog.get_logger("mfa.enrollment")


@dataclass(frozen=True)
class Registration:
    """A passkey registration to open for a login."""

    credential: Credential
    login_id: str
    party: RelyingParty
    name: str  # the relying party's name the browser shows, when the party has none
    user_verification: UserVerification
    expires_at: datetime


async def open_registration(
    store: CredentialStore, registration: Registration, handle_key: bytes, now: datetime
) -> str | None:
    """Options for the login, the passkeys held excluded, its challenge kept with the
    user's authenticator; None if that authenticator was replaced or reset meanwhile."""
    credential = registration.credential
    options, challenge = registration_options(
        registration.party,
        registration.name,
        user_handle(credential.user, handle_key),
        credential.account,
        tuple(p.id for p in credential.passkeys),
        registration.user_verification,
    )
    kept = Challenge.for_party(
        registration.login_id,
        credential.user,
        challenge,
        registration.party,
        registration.user_verification,
        registration.expires_at,
    )
    return options if await store.open_registration(credential, kept, now) else None


@dataclass(frozen=True)
class RegistrationHandlers:
    store: CredentialStore
    box: SecretBox
    clock: Clock
    handle_key: bytes
    offer_ttl: timedelta
    registered: Publisher
    rejected: Publisher
    opened: Publisher
    removed: Publisher  # AuthenticatorResetApplied: the removal is applied here

    async def on_registration_requested(self, event: PasskeyRegistrationRequested) -> None:
        found = await self.store.get(event.user)
        credential = found[0] if found else None
        options, refused = None, None
        if credential is None or not credential.confirmed:
            refused = "no_authenticator"
        elif credential.credential_id != event.credential_id:
            refused = "no_authenticator"  # reset (and enrolled again) since the sign-in
        elif not may_add_passkey(credential):
            refused = "too_many_passkeys"
        else:
            now = self.clock.now()
            registration = Registration(
                credential,
                event.login_id,
                event.relying_party,
                event.issuer or event.relying_party.id,
                event.user_verification,
                now + self.offer_ttl,
            )
            options = await open_registration(self.store, registration, self.handle_key, now)
            refused = None if options else "no_authenticator"
        await publish_correlated(
            self.opened,
            PasskeyRegistrationOpened(
                **reply_envelope(event, self.clock.now()),
                request_id=event.event_id,
                passkey_registration=options,
                refused=refused,
            ),
        )
        log.info(
            "passkey_registration_opened",
            login_id=event.login_id,
            stream=streams.PASSKEY_REGISTRATION_REQUESTED,
            outcome=refused or "opened",
        )

    async def on_passkeys_removed(self, event: PasskeysRemoved) -> None:
        await self.store.remove_passkeys(event.user, event.passkey_ids)
        await confirm_reset(event, "enrollment", self.removed, self.clock)

    async def on_registration_submitted(self, event: CodeSubmitted) -> None:
        found = await self.store.get(event.user)
        credential = found[0] if found else None
        if credential is None or credential.credential_id != event.credential_id:
            await self._refuse(event, "invalid", "no_such_authenticator")  # reset, replaced
            return
        if (done := credential.registered_by(event.submission_id)) is not None:
            await self._registered(event, credential, done)  # a redelivery: as before
            return
        challenge = credential.registration(event.login_id)
        refusal, passkey = self._check(event, credential, challenge)
        if passkey is None or challenge is None:
            await self._refuse(event, *refusal)
            return
        if not await self.store.register_passkey(
            credential, challenge, passkey, event.submission_id, self.clock.now()
        ):
            # Another copy of this submission, or another answer to the same challenge,
            # got there first: the challenge is taken.
            found = await self.store.get(event.user)
            done = found[0].registered_by(event.submission_id) if found else None
            if done is None or found is None:
                await self._refuse(event, "reused", "challenge_taken")
                return
            credential, passkey = found[0], done
        await self._registered(event, credential, passkey)

    def _check(
        self, event: CodeSubmitted, credential: Credential, challenge: Challenge | None
    ) -> tuple[tuple[RejectReason, str], Passkey | None]:
        """The passkey this submission registers, or why not (a reason, and a word for
        the log)."""
        now = self.clock.now()
        if challenge is None:
            return ("reused", "no_open_registration"), None
        if not challenge.live(now):
            return ("expired", "registration_expired"), None
        if not may_add_passkey(credential):
            return ("invalid", "too_many_passkeys"), None
        answer = self.box.open(event.code, code_context(event.login_id, event.submission_id))
        try:
            name = f"Passkey {len(credential.passkeys) + 1}"
            return ("invalid", ""), verify_registration(answer, challenge, now, name)
        except RegistrationRefused as refused:
            return ("invalid", f"attestation_refused:{refused}"), None

    async def _registered(
        self, event: CodeSubmitted, credential: Credential, passkey: Passkey
    ) -> None:
        await publish_correlated(
            self.registered,
            CredentialRegistered(
                **reply_envelope(event, self.clock.now()),
                credential_id=credential.credential_id,
                kind="passkey",
                passkey=passkey,
                created_at=passkey.created_at,
                submission_id=event.submission_id,
                # Registered at enrollment, in place of the app's QR offered beside it.
                voids_app_secret=not (credential.confirmed and credential.totp),
            ),
        )
        log.info(
            "passkey_registered",
            login_id=event.login_id,
            stream=streams.PASSKEY_REGISTRATION_SUBMITTED,
        )

    async def _refuse(self, event: CodeSubmitted, reason: RejectReason, why: str) -> None:
        await publish_correlated(
            self.rejected,
            CodeRejected(
                **reply_envelope(event, self.clock.now()),
                submission_id=event.submission_id,
                credential_id=event.credential_id,
                reason=reason,
                attempts_left=None,
                kind="passkey",
            ),
        )
        log.warning(
            "passkey_registration_refused", login_id=event.login_id, outcome=reason, why=why
        )
