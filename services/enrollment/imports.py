"""Imports (issue 21): one row at a time, an administrator's existing app secret or
token becomes the user's authenticator: confirmed, or to be confirmed by its first
accepted code (``confirm="first_use"``). The secret arrives sealed for its
credential, and is stored and passed to verification as it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from tenacity import retry, retry_if_exception_type, stop_after_attempt

from services.enrollment.domain import Credential
from services.enrollment.store import CredentialStore
from shared.clock import Clock
from shared.events import (
    AuthenticatorImportApplied,
    AuthenticatorImported,
    CredentialRegistered,
    reply_envelope,
)
from shared.messaging import Publisher, publish_correlated

log = structlog.get_logger("mfa.enrollment")


class LostRace(Exception):
    """A login of the user stored a credential between our read and write."""


@dataclass(frozen=True)
class ImportHandlers:
    store: CredentialStore
    clock: Clock
    registered: Publisher
    applied: Publisher

    async def on_authenticator_imported(self, event: AuthenticatorImported) -> None:
        outcome, credential = await self._import(event)
        if credential is not None and outcome in ("imported", "unchanged"):
            # Sent again for "unchanged": verification has it even if a crash lost it.
            await publish_correlated(
                self.registered,
                CredentialRegistered(
                    **reply_envelope(event, self.clock.now()),
                    credential_id=credential.credential_id,
                    secret=event.secret,
                    created_at=credential.created_at,
                    counter=event.counter,
                    **event.parameters.model_dump(),
                ),
            )
        await publish_correlated(
            self.applied,
            AuthenticatorImportApplied(
                **reply_envelope(event, self.clock.now()),
                credential_id=event.credential_id,
                outcome=outcome,
                created_at=credential.created_at if credential else None,
                confirmed=credential.confirmed if credential else True,
            ),
        )
        log.info("authenticator_imported", operation_id=event.correlation_id, outcome=outcome)

    @retry(retry=retry_if_exception_type(LostRace), stop=stop_after_attempt(5), reraise=True)
    async def _import(self, event: AuthenticatorImported) -> tuple[str, Credential | None]:
        found = await self.store.get(event.user)
        current = found[0] if found else None
        if current is not None and current.credential_id == event.credential_id:
            return "unchanged", current
        if current is not None and current.confirmed and not event.replace:
            return "has_authenticator", None
        now = self.clock.now()
        credential = Credential(
            user=event.user,
            credential_id=event.credential_id,
            account=event.account,
            created_at=now,
            offer_expires_at=now + timedelta(seconds=1),  # never offered as a QR
            confirmed_at=now if event.confirm == "now" else None,
            first_use=event.confirm == "first_use",
            totp=True,
            parameters=event.parameters,
        )
        if not await self.store.put_new(
            credential, event.secret, replacing=current, over_confirmed=event.replace
        ):
            raise LostRace
        return "imported", credential
