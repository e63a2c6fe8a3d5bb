"""Event handlers: parse, call the domain, store, emit. Nothing else. (The codes users
type are checked in codes.py, in batches.)"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

import structlog
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
)

from services.verification.domain import (
    Accepted,
    Answer,
    remember,
)
from services.verification.hotp import HotpRules, resync
from services.verification.passkeys import PasskeyHandlers, sealed_codes
from services.verification.recovery import (
    RecoveryCodes,
)
from services.verification.store import AuthenticatorStore
from shared import streams
from shared.clock import Clock
from shared.crypto import Sealed, SecretBox, credential_context, resync_context
from shared.events import (
    AuthenticatorReset,
    AuthenticatorResetApplied,
    AuthenticatorUnlocked,
    CredentialRegistered,
    PasskeysRemoved,
    RecoveryCodesIssued,
    RecoveryCodesRequested,
    TokenResynced,
    reply_envelope,
)
from shared.messaging import Publisher, confirm_reset, publish_correlated

log = structlog.get_logger("mfa.verification")


class LostRace(Exception):
    """Another replica changed this authenticator between our read and write."""


@dataclass(frozen=True)
class VerificationHandlers:
    """Everything but checking codes (codes.py): credentials, resets, unlocks, token
    resynchronisations and new recovery codes."""

    store: AuthenticatorStore
    box: SecretBox
    clock: Clock
    hotp: HotpRules
    answer_memory: timedelta
    reset_applied: Publisher
    codes_issued: Publisher
    passkeys: PasskeyHandlers

    async def on_credential_registered(self, event: CredentialRegistered) -> None:
        if event.kind == "passkey" or event.secret is None:
            await self.passkeys.on_passkey_registered(event)
            return
        adopted = await self.store.register(
            event.user,
            event.credential_id,
            event.secret,
            event.created_at,
            event.parameters,
            event.counter,
        )
        log.info(
            "credential_registered",
            login_id=event.correlation_id,
            stream=streams.CREDENTIAL_REGISTERED,
            outcome="adopted" if adopted else "already_known",
        )

    async def on_authenticator_reset(self, event: AuthenticatorReset) -> None:
        await self.store.forget(event.user, requested_at=event.occurred_at)
        await confirm_reset(event, "verification", self.reset_applied, self.clock)

    async def on_passkeys_removed(self, event: PasskeysRemoved) -> None:
        await self.store.remove_passkeys(event.user, event.passkey_ids)
        await confirm_reset(event, "verification", self.reset_applied, self.clock)

    async def on_token_resynced(self, event: TokenResynced) -> None:
        outcome = await self._resync(event)
        await publish_correlated(
            self.reset_applied,
            AuthenticatorResetApplied(
                **reply_envelope(event, self.clock.now()), service="verification", outcome=outcome
            ),
        )
        log.info("token_resynced", operation_id=event.correlation_id, outcome=outcome)

    @retry(retry=retry_if_exception_type(LostRace), stop=stop_after_attempt(10), reraise=True)
    async def _resync(self, event: TokenResynced) -> Literal["resynced", "no_match", "not_a_token"]:
        """The token's counter moved to the second of two consecutive codes found ahead
        of it; answered the same when the operation is delivered again."""
        held = await self.store.get(event.user)
        if held is None or not held.hotp or held.secret is None:
            return "not_a_token"
        key = f"resync:{event.event_id}"
        if key in held.answers:
            return "resynced"
        first, second = json.loads(
            self.box.open(event.codes, resync_context(event.user, event.correlation_id))
        )
        secret = self.box.open(held.secret, credential_context(event.user, held.credential_id))
        codes = held.parameters
        rules = replace(self.hotp, digits=codes.digits, algorithm=codes.algorithm)
        found = await asyncio.to_thread(
            resync, secret, str(first), str(second), held.state.last_step, rules
        )
        if found is None:
            return "no_match"
        now = self.clock.now()
        answers = remember(held.answers, key, Answer(Accepted(found), now), self.answer_memory)
        if not await self.store.save(held, replace(held.state, last_step=found), answers):
            raise LostRace
        return "resynced"

    async def on_authenticator_unlocked(self, event: AuthenticatorUnlocked) -> None:
        await self.store.unlock(event.user)
        await confirm_reset(event, "verification", self.reset_applied, self.clock)

    async def on_recovery_codes_requested(self, event: RecoveryCodesRequested) -> None:
        sealed, left = await self._issue_codes(event)
        await publish_correlated(
            self.codes_issued,
            RecoveryCodesIssued(
                **reply_envelope(event, self.clock.now()),
                credential_id=event.credential_id,
                request_id=event.event_id,
                recovery_codes=sealed,
                recovery_codes_left=left,
            ),
        )
        log.info(
            "recovery_codes_issued",
            login_id=event.login_id,
            stream=streams.RECOVERY_CODES_REQUESTED,
            outcome="issued" if sealed else "no_credential",
        )

    @retry(retry=retry_if_exception_type(LostRace), stop=stop_after_attempt(10), reraise=True)
    async def _issue_codes(self, event: RecoveryCodesRequested) -> tuple[Sealed | None, int]:
        """A new set for the credential the login passed, replacing the old one."""
        authenticator = await self.store.get(event.user)
        if authenticator is None or authenticator.credential_id != event.credential_id:
            return None, 0
        event_id = str(event.event_id)
        if (answered := authenticator.answers.get(event_id)) is not None:
            return answered.recovery_codes, _left(authenticator.recovery) or 0
        recovery, sealed = self._new_codes(event.login_id)
        answer = Answer(None, self.clock.now(), sealed)
        answers = remember(authenticator.answers, event_id, answer, self.answer_memory)
        if not await self.store.save(authenticator, authenticator.state, answers, recovery):
            raise LostRace
        return sealed, recovery.left

    def _new_codes(self, login_id: str) -> tuple[RecoveryCodes, Sealed]:
        return sealed_codes(self.box, login_id)


def _left(recovery: RecoveryCodes | None) -> int | None:
    return recovery.left if recovery else None
