"""Event handlers: parse, call the domain, store, emit. Nothing else."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

import structlog
from prometheus_client import Counter, Histogram
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
)

from services.verification.domain import (
    Accepted,
    Answer,
    GuardState,
    LockoutRules,
    Passed,
    PasskeyAccepted,
    RecoveryAccepted,
    Rejected,
    TotpRules,
    check_code,
    count_failure,
    remember,
)
from services.verification.hotp import HotpRules, check_hotp, resync
from services.verification.passkeys import PasskeyHandlers, check_answer, sealed_codes
from services.verification.recovery import (
    RecoveryCodes,
    check_recovery_code,
    confirms,
    digest,
)
from services.verification.store import Authenticator, AuthenticatorStore, held_soon
from shared import streams
from shared.clock import Clock
from shared.crypto import Sealed, SecretBox, code_context, credential_context, resync_context
from shared.events import (
    AuthenticatorReset,
    AuthenticatorResetApplied,
    AuthenticatorUnlocked,
    CodeRejected,
    CodeSubmitted,
    CodeVerified,
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
    store: AuthenticatorStore
    box: SecretBox
    clock: Clock
    totp: TotpRules
    lockout: LockoutRules
    hotp: HotpRules
    credential_wait_seconds: float
    answer_memory: timedelta
    checks: Counter
    drift: Histogram  # steps between the matching code's and the current one
    verified: Publisher
    rejected: Publisher
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

    async def on_code_submitted(self, event: CodeSubmitted) -> None:
        answer, codes_left = await self._verify(event)
        outcome = answer.outcome
        if isinstance(outcome, Passed):
            await publish_correlated(
                self.verified,
                CodeVerified(
                    **reply_envelope(event, self.clock.now()),
                    submission_id=event.submission_id,
                    credential_id=event.credential_id,
                    purpose=event.purpose,
                    kind=event.kind,
                    passkey_id=outcome.passkey_id if isinstance(outcome, PasskeyAccepted) else None,
                    step_offset=outcome.offset if isinstance(outcome, Accepted) else None,
                    recovery_codes=answer.recovery_codes,
                    recovery_codes_left=codes_left,
                ),
            )
        elif isinstance(outcome, Rejected):
            await publish_correlated(
                self.rejected,
                CodeRejected(
                    **reply_envelope(event, self.clock.now()),
                    submission_id=event.submission_id,
                    credential_id=event.credential_id,
                    reason=outcome.reason,
                    attempts_left=outcome.attempts_left,
                    locked_until=outcome.locked_until,
                    locked_now=outcome.locked_now,
                    kind=event.kind,
                ),
            )
        label = outcome.reason if isinstance(outcome, Rejected) else "verified"
        log.info(
            "code_checked",
            login_id=event.login_id,
            stream=streams.CODE_SUBMITTED,
            purpose=event.purpose,
            kind=event.kind,
            outcome=label,
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
    async def _verify(self, event: CodeSubmitted) -> tuple[Answer, int | None]:
        """The answer to a submission, and the recovery codes left after it."""
        authenticator = await self._authenticator_for(event)
        if authenticator is None:
            # Reset, replaced by a newer enrollment, or never registered: nothing to
            # check against. Not counted as a failure, since no guess was tested.
            refused = Rejected("invalid", self.lockout.max_failures)
            self._count(refused)
            return Answer(refused, self.clock.now()), None
        event_id = str(event.event_id)
        if (answered := authenticator.answers.get(event_id)) is not None:
            return answered, _left(authenticator.recovery)  # a redelivery: as the first time
        code = self.box.open(event.code, code_context(event.login_id, event.submission_id))
        now = self.clock.now()
        recovery, sealed, used = authenticator.recovery, None, None
        outcome: Passed | Rejected
        if event.kind == "recovery_code":
            typed = await asyncio.to_thread(digest, code, recovery.salt) if recovery else None
            state, recovery, outcome = check_recovery_code(
                authenticator.state, recovery, typed, now, self.lockout
            )
        elif event.kind == "passkey":
            state, outcome, used = check_answer(
                authenticator, event.login_id, code, now, self.lockout
            )
        else:
            state, outcome = self._check_app_code(authenticator, event, code)
            if confirms(outcome, event.purpose, recovery):
                recovery, sealed = self._new_codes(event.login_id)
        answer = Answer(outcome, now, sealed)
        answers = remember(authenticator.answers, event_id, answer, self.answer_memory)
        if not await self.store.save(authenticator, state, answers, recovery, used):
            raise LostRace
        self._count(outcome)
        return answer, _left(recovery)

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

    def _check_app_code(
        self, authenticator: Authenticator, event: CodeSubmitted, code: str
    ) -> tuple[GuardState, Accepted | Rejected]:
        now = self.clock.now()
        if authenticator.secret is None:  # the user holds passkeys only: no code matches
            return count_failure(authenticator.state, "invalid", now, self.lockout)
        secret = self.box.open(
            authenticator.secret, credential_context(event.user, event.credential_id)
        )
        codes = authenticator.parameters
        if authenticator.hotp:
            hotp = replace(self.hotp, digits=codes.digits, algorithm=codes.algorithm)
            return check_hotp(authenticator.state, secret, code, now, hotp, self.lockout)
        rules = self.totp.for_codes(codes)
        return check_code(authenticator.state, secret, code, now, rules, self.lockout)

    def _new_codes(self, login_id: str) -> tuple[RecoveryCodes, Sealed]:
        return sealed_codes(self.box, login_id)

    def _count(self, outcome: Passed | Rejected) -> None:
        if isinstance(outcome, Rejected):
            self.checks.labels(outcome.reason).inc()
            return
        labels = {
            Accepted: "verified",
            RecoveryAccepted: "recovery_code",
            PasskeyAccepted: "passkey",
        }
        self.checks.labels(labels[type(outcome)]).inc()
        if isinstance(outcome, Accepted):
            self.drift.observe(outcome.offset)

    async def _authenticator_for(self, event: CodeSubmitted) -> Authenticator | None:
        """The credential the code was typed for, waiting briefly for one still in flight
        (a user who types fast may beat the registration by a few milliseconds)."""
        return await held_soon(
            self.store,
            event.user,
            lambda found: found.credential_id == event.credential_id,
            self.credential_wait_seconds,
        )


def _left(recovery: RecoveryCodes | None) -> int | None:
    return recovery.left if recovery else None
