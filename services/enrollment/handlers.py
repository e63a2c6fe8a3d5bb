"""Event handlers: parse, call the domain, store, emit. Nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from tenacity import retry, retry_if_exception_type, stop_after_attempt

from services.enrollment.domain import (
    Credential,
    Next,
    kinds_for_login,
    new_credential,
    new_secret,
    next_step,
    offered_kinds,
    otpauth_uri,
)
from services.enrollment.registrations import Registration, open_registration
from services.enrollment.store import CredentialStore
from shared import streams
from shared.clock import Clock
from shared.crypto import Sealed, SecretBox, credential_context, enrollment_context
from shared.events import (
    AuthenticatorKind,
    AuthenticatorReset,
    CodeVerified,
    CredentialRegistered,
    EnrollmentIssued,
    LoginDecided,
    reply_envelope,
)
from shared.messaging import (
    Publisher,
    confirm_reset,
    in_order_per_key,
    publish_all,
    publish_correlated,
)

log = structlog.get_logger("mfa.enrollment")


class LostRace(Exception):
    """Another login of the same user stored a credential first; look again."""


@dataclass(frozen=True)
class EnrollmentHandlers:
    store: CredentialStore
    box: SecretBox
    clock: Clock
    issuer: str  # when the organization has no name of its own for authenticator apps
    offer_ttl: timedelta
    handle_key: bytes  # keys the WebAuthn user handles (shared.passkeys.user_handle)
    issued: Publisher
    registered: Publisher
    reset_applied: Publisher
    publishing: int = 8  # answers published at once (MFA_CONCURRENCY)

    async def on_logins_decided(self, events: list[LoginDecided]) -> None:
        """A batch read from the stream. A daily login of an enrolled user asks for the
        code: those are answered from one ``_id $in`` read, side by side. A login that
        issues or shows a QR or a passkey registration goes one by one (in stream order
        per user), as before."""
        covered = [e for e in events if e.mfa_required]
        held = await self.store.get_many([e.user for e in covered]) if covered else {}
        now, daily, others = self.clock.now(), [], []
        for event in covered:
            credential = held.get(event.user.key)
            offered = offered_kinds(event.kinds, event.relying_party)
            if credential and next_step(credential, now, "totp" in offered) is Next.ASK_FOR_CODE:
                daily.append(self._issued(event, credential, None, None, offered))
            else:
                others.append(event)
        await publish_all([(self.issued, issued) for issued in daily], self.publishing)
        for issued in daily:
            log.info(
                "enrollment_issued",
                login_id=issued.login_id,
                stream=streams.LOGIN_DECIDED,
                outcome="enrolled",
                kinds=",".join(issued.kinds),
            )
        await in_order_per_key(others, lambda e: e.user.key, self.on_login_decided)

    async def on_login_decided(self, event: LoginDecided) -> None:
        if not event.mfa_required:
            return
        offered = offered_kinds(event.kinds, event.relying_party)
        credential, secret = await self._credential_for(event, wants_totp="totp" in offered)
        registration = None
        if credential.pending and "passkey" in offered:
            registration = await self._open_registration(event, credential)
        await publish_correlated(
            self.issued, self._issued(event, credential, secret, registration, offered)
        )
        log.info(
            "enrollment_issued",
            login_id=event.login_id,
            stream=streams.LOGIN_DECIDED,
            outcome="pending" if credential.pending else "enrolled",
            kinds=",".join(offered),
        )

    async def on_code_verified(self, event: CodeVerified) -> None:
        if event.purpose != "enrollment":
            return
        confirmed = await self.store.confirm(event.user, event.credential_id, self.clock.now())
        log.info(
            "credential_confirmed",
            login_id=event.login_id,
            stream=streams.CODE_VERIFIED,
            outcome="confirmed" if confirmed else "already_confirmed_or_replaced",
        )

    async def on_authenticator_reset(self, event: AuthenticatorReset) -> None:
        await self.store.forget(event.user, requested_at=event.occurred_at)
        await confirm_reset(event, "enrollment", self.reset_applied, self.clock)

    @retry(retry=retry_if_exception_type(LostRace), stop=stop_after_attempt(5), reraise=True)
    async def _credential_for(
        self, event: LoginDecided, wants_totp: bool
    ) -> tuple[Credential, str | None]:
        """The user's credential, and its app secret in clear while it is still to be
        confirmed (None: confirmed, or offered as a passkey only)."""
        now = self.clock.now()
        found = await self.store.get(event.user)
        current = found[0] if found else None
        step = next_step(current, now, wants_totp)
        if found and step is Next.ASK_FOR_CODE:
            return found[0], None
        if found and step is Next.SHOW_PENDING:
            credential, sealed = found
            if sealed is None or not wants_totp:
                return credential, None
            secret = self.box.open(
                sealed, credential_context(credential.user, credential.credential_id)
            )
            # Published again so verification has it even if a crash lost the first one.
            await self._register(credential, sealed, event.correlation_id)
            return credential, secret
        credential = new_credential(
            event.user, event.email, now, self.offer_ttl, wants_totp, event.totp
        )
        fresh = new_secret() if wants_totp else None
        sealed = None
        if fresh is not None:
            context = credential_context(credential.user, credential.credential_id)
            sealed = self.box.seal(fresh, context)
        if not await self.store.put_new(credential, sealed, replacing=current):
            raise LostRace
        if sealed:
            await self._register(credential, sealed, event.correlation_id)
        return credential, fresh

    async def _open_registration(self, event: LoginDecided, credential: Credential) -> str | None:
        """Registration options for this login, its challenge kept until the offer ends
        (None: reset meanwhile, the app's QR, if offered, is what is left)."""
        if event.relying_party is None:
            return None
        return await open_registration(
            self.store,
            Registration(
                credential,
                event.login_id,
                event.relying_party,
                event.issuer or self.issuer,
                event.user_verification,
                credential.offer_expires_at,
            ),
            self.handle_key,
            self.clock.now(),
        )

    async def _register(self, credential: Credential, sealed: Sealed, correlation_id: str) -> None:
        await publish_correlated(
            self.registered,
            CredentialRegistered(
                occurred_at=self.clock.now(),
                correlation_id=correlation_id,
                organization_id=credential.user.organization_id,
                user_id=credential.user.user_id,
                credential_id=credential.credential_id,
                secret=sealed,
                created_at=credential.created_at,
                **credential.parameters.model_dump(),
            ),
        )

    def _issued(
        self,
        event: LoginDecided,
        credential: Credential,
        secret: str | None,
        registration: str | None,
        offered: tuple[AuthenticatorKind, ...],
    ) -> EnrollmentIssued:
        uri = None
        if secret is not None:
            uri = self.box.seal(
                otpauth_uri(
                    secret, event.issuer or self.issuer, credential.account, credential.parameters
                ),
                enrollment_context(event.login_id),
            )
        pending = credential.pending
        offer = tuple(
            k for k in offered if (k == "totp" and uri) or (k == "passkey" and registration)
        )
        held = kinds_for_login(credential.kinds(), event.kinds)
        return EnrollmentIssued(
            **reply_envelope(event, self.clock.now()),
            credential_id=credential.credential_id,
            state="pending" if pending else "enrolled",
            otpauth_uri=uri,
            passkey_registration=registration,
            kinds=(offer or offered) if pending else (held or ("totp",)),
            # Passkeys held keep working where they were made, whatever the policy says now.
            relying_party=event.relying_party or (None if pending else credential.party),
            user_verification=event.user_verification,
            totp=credential.parameters,
            expires_at=credential.offer_expires_at if pending else None,
            credential_created_at=credential.created_at,
            confirmed_at=credential.confirmed_at,
            first_use=credential.awaiting_first_use,
        )
