"""Event handlers: parse, call the domain, store, emit. Nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from tenacity import retry, retry_if_exception_type, stop_after_attempt

from services.policy.domain import PolicySnapshot, decide, judge_update, remember_event
from services.policy.store import PolicyStore, StoredPolicy
from shared import streams
from shared.clock import Clock
from shared.events import (
    LoginAttempted,
    LoginDecided,
    PolicyApplied,
    PolicyUpdated,
    RelyingParty,
    reply_envelope,
)
from shared.messaging import Publisher, publish_all, publish_correlated

log = structlog.get_logger("mfa.policy")


class LostRace(Exception):
    """Another replica applied an update between our read and our write."""


@dataclass(frozen=True)
class PolicyHandlers:
    store: PolicyStore
    clock: Clock
    decided: Publisher
    applied: Publisher
    relying_party: RelyingParty | None = None  # for organizations that name none
    publishing: int = 8  # decisions published at once (MFA_CONCURRENCY)

    async def on_logins_attempted(self, events: list[LoginAttempted]) -> None:
        """A batch read from the stream: the organizations' policies in one read, each
        login decided, the decisions published side by side and acknowledged at once."""
        policies = await self.store.snapshots_for([(e.user, e.email) for e in events])
        decided = [self._decided(e, p) for e, p in zip(events, policies, strict=True)]
        await publish_all([(self.decided, d) for d in decided], self.publishing)
        for event, decision in zip(events, decided, strict=True):
            log.info(
                "login_decided",
                login_id=event.login_id,
                stream=streams.LOGIN_ATTEMPTED,
                outcome=decision.reason,
                mfa_required=decision.mfa_required,
            )

    def _decided(self, event: LoginAttempted, policy: PolicySnapshot) -> LoginDecided:
        decision = decide(policy, event.user_type, required_by_caller=event.require_mfa)
        return LoginDecided(
            **reply_envelope(event, self.clock.now()),
            email=event.email,
            mfa_required=decision.mfa_required,
            reason=decision.reason,
            policy_version=policy.version,
            issuer=event.issuer,
            user_type=event.user_type,
            relying_party=policy.rules.relying_party or self.relying_party,
            kinds=decision.kinds,
            user_verification=policy.rules.user_verification,
            totp=policy.rules.totp,
        )

    async def on_policy_updated(self, event: PolicyUpdated) -> None:
        stored, conflict = await self._apply(event)
        await publish_correlated(
            self.applied,
            PolicyApplied(
                **reply_envelope(event, self.clock.now()),
                policy=stored.rules,
                version=stored.version,
                updated_at=stored.updated_at,
                requested_by=event.requested_by,
                conflict=conflict,
            ),
        )
        log.info(
            "policy_applied",
            operation_id=event.correlation_id,
            stream=streams.POLICY_UPDATED,
            outcome="conflict" if conflict else "applied",
            organization_id=event.organization_id,
            version=stored.version,
        )

    @retry(retry=retry_if_exception_type(LostRace), stop=stop_after_attempt(10), reraise=True)
    async def _apply(self, event: PolicyUpdated) -> tuple[StoredPolicy, bool]:
        """The policy as this update leaves it, and whether the update was refused."""
        organization = event.organization_id
        current = await self.store.current(organization)
        event_id = str(event.event_id)
        update = judge_update(
            current.version,
            current.recent_events,
            event_id,
            event.expected_version,
            requested_at=event.occurred_at,
            current_requested_at=current.requested_at,
        )
        if update.kind == "conflict":
            return current, True
        if update.kind == "already":  # a redelivery: the same answer, no new version
            return await self.store.at_version(organization, update.version) or current, False
        recent = remember_event(current.recent_events, event_id, update.version)
        saved = await self.store.save(
            organization,
            current,
            event.policy,
            recent,
            self.clock.now(),
            event.requested_by,
            requested_at=event.occurred_at,
        )
        if saved is None:
            raise LostRace
        return saved, False
