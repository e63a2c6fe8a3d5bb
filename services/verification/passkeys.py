"""Passkeys at verification: the sign-in challenge for a login of a user who holds
passkeys, the check of the assertion that answers it, and the adoption of a passkey
just registered (which answers the registration, as a confirming code is answered)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
)

from services.verification.ceremony import authentication_options, passkey_id_of, verify_assertion
from services.verification.domain import (
    Answer,
    GuardState,
    LockoutRules,
    PasskeyAccepted,
    Rejected,
    check_passkey,
    count_failure,
    is_locked,
    remember,
)
from services.verification.recovery import RecoveryCodes, new_codes
from services.verification.store import (
    Authenticator,
    AuthenticatorStore,
    PasskeyUse,
    held_soon,
)
from shared import streams
from shared.clock import Clock
from shared.crypto import Sealed, SecretBox, recovery_codes_context
from shared.events import (
    CodeVerified,
    CredentialRegistered,
    EnrollmentIssued,
    PasskeyChallenged,
    RelyingParty,
    reply_envelope,
)
from shared.messaging import Publisher, publish_correlated
from shared.passkeys import Challenge

log = structlog.get_logger("mfa.verification")


class LostRace(Exception):
    """Another replica changed this authenticator between our read and write."""


def check_answer(
    authenticator: Authenticator, login_id: str, answer: str, now: datetime, lockout: LockoutRules
) -> tuple[GuardState, PasskeyAccepted | Rejected, PasskeyUse | None]:
    """A passkey's answer to this login's challenge: the new guard state, the outcome,
    and, if accepted, the counter to keep and the challenge it takes."""
    state = authenticator.state
    if is_locked(state, now):
        return state, Rejected("locked", 0, state.locked_until), None
    challenge = authenticator.challenges.get(login_id)
    if challenge is None:  # taken by an earlier answer (a replay), or never made
        return *count_failure(state, "reused", now, lockout), None
    if not challenge.live(now):
        return *count_failure(state, "expired", now, lockout), None
    passkey_id = passkey_id_of(answer)
    stored = authenticator.passkeys.get(passkey_id) if passkey_id else None
    assertion = verify_assertion(answer, challenge, stored.public_key) if stored else None
    state, outcome = check_passkey(
        state, assertion, stored.sign_count if stored else 0, now, lockout
    )
    if isinstance(outcome, Rejected):
        return state, outcome, None
    return state, outcome, PasskeyUse(login_id, outcome.passkey_id, outcome.sign_count, now)


def sealed_codes(box: SecretBox, login_id: str) -> tuple[RecoveryCodes, Sealed]:
    """A set of recovery codes to keep (digests) and the same codes sealed for the
    user's eyes only."""
    shown, kept = new_codes()
    return kept, box.seal(json.dumps(shown), recovery_codes_context(login_id))


@dataclass(frozen=True)
class PasskeyHandlers:
    store: AuthenticatorStore
    box: SecretBox
    clock: Clock
    challenge_ttl: timedelta
    answer_memory: timedelta
    credential_wait_seconds: float
    challenged: Publisher
    verified: Publisher

    async def on_enrollment_issued(self, event: EnrollmentIssued) -> None:
        if event.state != "enrolled" or "passkey" not in event.kinds:
            return  # an app's code, or a registration: nothing to challenge
        party = event.relying_party
        authenticator = await held_soon(  # a passkey just registered may be on its way
            self.store,
            event.user,
            lambda found: found.credential_id == event.credential_id and bool(found.passkeys),
            self.credential_wait_seconds,
        )
        if party is None or authenticator is None:
            log.warning("passkey_challenge_skipped", login_id=event.login_id)
            return
        options, expires_at = await self._challenge(event, party, authenticator)
        await publish_correlated(
            self.challenged,
            PasskeyChallenged(
                **reply_envelope(event, self.clock.now()),
                credential_id=event.credential_id,
                kinds=event.kinds,
                passkey_authentication=options,
                expires_at=expires_at,
                totp=event.totp,  # as enrollment knows the user's app
            ),
        )
        log.info("passkey_challenged", login_id=event.login_id, stream=streams.ENROLLMENT_ISSUED)

    async def _challenge(
        self, event: EnrollmentIssued, party: RelyingParty, current: Authenticator
    ) -> tuple[str, datetime]:
        """Options for the login's challenge, kept with the authenticator as read (read
        again only if another replica changed it meanwhile)."""
        for _ in range(10):
            allowed = {pid: p.transports for pid, p in current.passkeys.items()}
            options, raw = authentication_options(party.id, allowed, event.user_verification)
            now = self.clock.now()
            challenge = Challenge.for_party(
                event.login_id,
                event.user,
                raw,
                party,
                event.user_verification,
                now + self.challenge_ttl,
            )
            if await self.store.open_challenge(current, challenge, now):
                return options, challenge.expires_at
            reread = await self.store.get(event.user)
            if reread is None:
                break
            current = reread
        raise LostRace

    async def on_passkey_registered(self, event: CredentialRegistered) -> None:
        answer = await self._adopt(event)
        if event.login_id is None or event.submission_id is None or answer is None:
            return
        outcome = answer.outcome
        assert isinstance(outcome, PasskeyAccepted)  # noqa: S101 - the only answer kept here
        await publish_correlated(
            self.verified,
            CodeVerified(
                **reply_envelope(event, self.clock.now()),  # its login_id too
                submission_id=event.submission_id,
                credential_id=event.credential_id,
                purpose="enrollment",
                kind="passkey",
                passkey_id=outcome.passkey_id,
                recovery_codes=answer.recovery_codes,
            ),
        )
        log.info("passkey_adopted", login_id=event.login_id, stream=streams.CREDENTIAL_REGISTERED)

    @retry(retry=retry_if_exception_type(LostRace), stop=stop_after_attempt(10), reraise=True)
    async def _adopt(self, event: CredentialRegistered) -> Answer | None:
        """Adopt the passkey with the answer to its registration: new recovery codes
        when it is the user's first authenticator. A redelivery is answered the same."""
        passkey = event.passkey
        if passkey is None:
            return None
        current = await self.store.get(event.user)
        same = current is not None and current.credential_id == event.credential_id
        if current is not None and not same and _newer(current, passkey.created_at):
            return None  # an authenticator made since (after a reset) stays
        key = f"registration:{event.submission_id or event.event_id}"
        if current is not None and (answered := current.answers.get(key)) is not None:
            return answered
        kept = current if same else None
        recovery = kept.recovery if kept else None
        sealed = None
        if recovery is None and event.login_id is not None:
            recovery, sealed = sealed_codes(self.box, event.login_id)
        answer = Answer(PasskeyAccepted(passkey.id, passkey.sign_count), self.clock.now(), sealed)
        answers = remember(kept.answers if kept else {}, key, answer, self.answer_memory)
        adopted = await self.store.adopt_passkey(
            event.user,
            current,
            event.credential_id,
            passkey,
            void_secret=event.voids_app_secret,
            answers=answers,
            recovery=recovery,
        )
        if not adopted:
            raise LostRace
        return answer


def _newer(authenticator: Authenticator, than: datetime) -> bool:
    return authenticator.created_at is not None and authenticator.created_at > than
