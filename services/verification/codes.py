"""Checking the codes users type, in batches (issue 22).

The live consumer hands over every ``mfa.code.submitted`` entry one XREADGROUP read
brought. App codes of distinct users are checked together: one ``_id $in`` read, the
domain rule for each, one bulk of compare-and-set writes (each answer in its own
document's write), and the answers published at once. Everything else goes one entry
at a time, as before: a second code of a user already in the batch (after the first),
recovery codes (their scrypt runs in a thread), passkeys, a credential not arrived yet
(waited for), and any entry whose compare-and-set another replica won.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta

import structlog
from prometheus_client import Counter, Histogram
from tenacity import retry, retry_if_exception_type, stop_after_attempt

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
from services.verification.hotp import HotpRules, check_hotp
from services.verification.passkeys import check_answer, sealed_codes
from services.verification.recovery import RecoveryCodes, check_recovery_code, confirms, digest
from services.verification.store import (
    Authenticator,
    AuthenticatorStore,
    GuardedWrite,
    PasskeyUse,
    held_soon,
)
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox, code_context, credential_context
from shared.events import CodeRejected, CodeSubmitted, CodeVerified, reply_envelope
from shared.messaging import Publisher, in_order_per_key, publish_all

log = structlog.get_logger("mfa.verification")


class LostRace(Exception):
    """Another replica changed this authenticator between our read and write."""


def split_batch(events: list[CodeSubmitted]) -> tuple[list[CodeSubmitted], list[CodeSubmitted]]:
    """The entries checked together (the first app code of each user), and the rest,
    in stream order, to be checked one at a time after them."""
    together: list[CodeSubmitted] = []
    seen: set[str] = set()
    alone: list[CodeSubmitted] = []
    for event in events:
        key = event.user.key
        if event.kind == "totp" and key not in seen:
            together.append(event)
        else:
            alone.append(event)
        seen.add(key)
    return together, alone


@dataclass(frozen=True)
class Checked:
    """A submission's answer, the recovery codes left after it, and the write that
    keeps the answer with its effect (None: answered before, a redelivery)."""

    answer: Answer
    left: int | None
    write: GuardedWrite | None = None
    used: PasskeyUse | None = None


@dataclass(frozen=True)
class CodeChecks:
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
    publishing: int = 8  # answers published at once (MFA_CONCURRENCY)

    async def on_codes_submitted(self, events: list[CodeSubmitted]) -> None:
        together, _ = split_batch(events)
        answers = await self._check_together(together)
        # The rest, and whatever the batch could not settle, in stream order.
        later = [e for e in events if str(e.event_id) not in answers]
        answers.update(await self._check_alone(later))
        replies = [self._reply(e, answers[str(e.event_id)]) for e in events]
        await publish_all([r for r in replies if r is not None], self.publishing)
        for event in events:
            outcome = answers[str(event.event_id)].answer.outcome
            log.info(
                "code_checked",
                login_id=event.login_id,
                stream=streams.CODE_SUBMITTED,
                purpose=event.purpose,
                kind=event.kind,
                outcome=outcome.reason if isinstance(outcome, Rejected) else "verified",
            )

    async def _check_together(self, events: list[CodeSubmitted]) -> dict[str, Checked]:
        """Answers for the app codes whose credential is here and whose write landed."""
        if not events:
            return {}
        held = await self.store.get_many([e.user for e in events])
        checked: dict[str, Checked] = {}
        for event in events:
            found = held.get(event.user.key)
            if found is not None and found.credential_id == event.credential_id:
                checked[str(event.event_id)] = await self._check(found, event)
        writes = [c.write for c in checked.values() if c.write is not None]
        landed = await self.store.save_many(writes)
        for event_id, done in list(checked.items()):
            if done.write is not None and event_id not in landed:
                del checked[event_id]  # lost its compare-and-set: checked again alone
            elif done.write is not None:
                self._count(done.answer.outcome)
        return checked

    async def _check_alone(self, events: list[CodeSubmitted]) -> dict[str, Checked]:
        """One at a time per user, in stream order; users side by side."""
        checked = await in_order_per_key(events, lambda e: e.user.key, self._verify)
        return {str(e.event_id): c for e, c in zip(events, checked, strict=True)}

    @retry(retry=retry_if_exception_type(LostRace), stop=stop_after_attempt(10), reraise=True)
    async def _verify(self, event: CodeSubmitted) -> Checked:
        authenticator = await self._authenticator_for(event)
        if authenticator is None:
            # Reset, replaced by a newer enrollment, or never registered: nothing to
            # check against. Not counted as a failure, since no guess was tested.
            refused = Rejected("invalid", self.lockout.max_failures)
            self._count(refused)
            return Checked(Answer(refused, self.clock.now()), None)
        checked = await self._check(authenticator, event)
        if (write := checked.write) is None:
            return checked
        if not await self.store.save(*write.fields, used=checked.used):
            raise LostRace
        self._count(checked.answer.outcome)
        return checked

    async def _check(self, authenticator: Authenticator, event: CodeSubmitted) -> Checked:
        """The answer to a submission, and the write that keeps it with its effect."""
        event_id = str(event.event_id)
        if (answered := authenticator.answers.get(event_id)) is not None:
            return Checked(answered, _left(authenticator.recovery))  # as the first time
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
                recovery, sealed = sealed_codes(self.box, event.login_id)
        answer = Answer(outcome, now, sealed)
        answers = remember(authenticator.answers, event_id, answer, self.answer_memory)
        write = GuardedWrite(event_id, authenticator, state, answers, recovery)
        return Checked(answer, _left(recovery), write, used)

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

    def _reply(
        self, event: CodeSubmitted, checked: Checked
    ) -> tuple[Publisher, CodeVerified | CodeRejected] | None:
        answer, outcome = checked.answer, checked.answer.outcome
        if isinstance(outcome, Passed):
            return (
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
                    recovery_codes_left=checked.left,
                ),
            )
        if isinstance(outcome, Rejected):
            return (
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
        return None

    def _count(self, outcome: Passed | Rejected | None) -> None:
        if outcome is None:
            return
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
