"""Event handlers: parse, call the domain, store, emit. Nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from prometheus_client import Counter
from tenacity import (
    retry,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_fixed,
)

from services.verification.domain import (
    Accepted,
    LockoutRules,
    Outcome,
    Rejected,
    TotpRules,
    check_code,
    remember,
)
from services.verification.store import Authenticator, AuthenticatorStore
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox, code_context, credential_context
from shared.events import (
    AuthenticatorReset,
    CodeRejected,
    CodeSubmitted,
    CodeVerified,
    CredentialRegistered,
)
from shared.messaging import Publisher, confirm_reset

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
    credential_wait_seconds: float
    answer_memory: timedelta
    checks: Counter
    verified: Publisher
    rejected: Publisher
    reset_applied: Publisher

    async def on_credential_registered(self, event: CredentialRegistered) -> None:
        adopted = await self.store.register(
            event.user, event.credential_id, event.secret, event.created_at
        )
        log.info(
            "credential_registered",
            login_id=event.correlation_id,
            stream=streams.CREDENTIAL_REGISTERED,
            outcome="adopted" if adopted else "already_known",
        )

    async def on_code_submitted(self, event: CodeSubmitted) -> None:
        outcome = await self._verify(event)
        self.checks.labels("verified" if isinstance(outcome, Accepted) else outcome.reason).inc()
        if isinstance(outcome, Accepted):
            await self.verified.publish(
                CodeVerified(
                    occurred_at=self.clock.now(),
                    correlation_id=event.correlation_id,
                    organization_id=event.organization_id,
                    login_id=event.login_id,
                    submission_id=event.submission_id,
                    user_id=event.user_id,
                    credential_id=event.credential_id,
                    purpose=event.purpose,
                ),
                correlation_id=event.correlation_id,
            )
        else:
            await self.rejected.publish(
                CodeRejected(
                    occurred_at=self.clock.now(),
                    correlation_id=event.correlation_id,
                    organization_id=event.organization_id,
                    login_id=event.login_id,
                    submission_id=event.submission_id,
                    user_id=event.user_id,
                    credential_id=event.credential_id,
                    reason=outcome.reason,
                    attempts_left=outcome.attempts_left,
                    locked_until=outcome.locked_until,
                ),
                correlation_id=event.correlation_id,
            )
        log.info(
            "code_checked",
            login_id=event.login_id,
            stream=streams.CODE_SUBMITTED,
            purpose=event.purpose,
            outcome="verified" if isinstance(outcome, Accepted) else outcome.reason,
        )

    async def on_authenticator_reset(self, event: AuthenticatorReset) -> None:
        await self.store.forget(event.user, requested_at=event.occurred_at)
        await confirm_reset(event, "verification", self.reset_applied, self.clock)

    @retry(retry=retry_if_exception_type(LostRace), stop=stop_after_attempt(10), reraise=True)
    async def _verify(self, event: CodeSubmitted) -> Outcome:
        authenticator = await self._authenticator_for(event)
        if authenticator is None:
            # Reset, replaced by a newer enrollment, or never registered: nothing to
            # check against. Not counted as a failure, since no guess was tested.
            return Rejected("invalid", self.lockout.max_failures)
        event_id = str(event.event_id)
        if (answered := authenticator.answers.get(event_id)) is not None:
            return answered.outcome  # a redelivery: answer as the first time
        code = self.box.open(event.code, code_context(event.login_id, event.submission_id))
        secret = self.box.open(
            authenticator.secret, credential_context(event.user, event.credential_id)
        )
        now = self.clock.now()
        state, outcome = check_code(authenticator.state, secret, code, now, self.totp, self.lockout)
        answers = remember(authenticator.answers, event_id, outcome, now, self.answer_memory)
        if not await self.store.save(authenticator, state, answers):
            raise LostRace
        return outcome

    async def _authenticator_for(self, event: CodeSubmitted) -> Authenticator | None:
        """The credential the code was typed for, waiting briefly for one still in flight.

        The credential and the login reach verification on different streams; a
        user who types fast may beat the registration by a few milliseconds.
        """

        @retry(
            retry=retry_if_result(lambda found: found is None),
            stop=stop_after_delay(self.credential_wait_seconds),
            wait=wait_fixed(0.05),
            retry_error_callback=lambda _: None,
        )
        async def lookup() -> Authenticator | None:
            found = await self.store.get(event.user)
            return found if found and found.credential_id == event.credential_id else None

        return await lookup()
