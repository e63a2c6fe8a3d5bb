"""Event handlers: parse, call the domain, store, emit. Nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from services.policy.domain import decide
from services.policy.store import PolicyStore
from shared import streams
from shared.clock import Clock
from shared.events import LoginAttempted, LoginDecided, PolicyApplied, PolicyUpdated
from shared.messaging import Publisher

log = structlog.get_logger("mfa.policy")


@dataclass(frozen=True)
class PolicyHandlers:
    store: PolicyStore
    clock: Clock
    decided: Publisher
    applied: Publisher

    async def on_login_attempted(self, event: LoginAttempted) -> None:
        policy = await self.store.snapshot_for(event.user, event.email)
        decision = decide(policy, event.user_type, required_by_caller=event.require_mfa)
        await self.decided.publish(
            LoginDecided(
                occurred_at=self.clock.now(),
                correlation_id=event.correlation_id,
                organization_id=event.organization_id,
                login_id=event.login_id,
                user_id=event.user_id,
                email=event.email,
                mfa_required=decision.mfa_required,
                reason=decision.reason,
                policy_version=policy.version,
                issuer=event.issuer,
            ),
            correlation_id=event.correlation_id,
        )
        log.info(
            "login_decided",
            login_id=event.login_id,
            stream=streams.LOGIN_ATTEMPTED,
            outcome=decision.reason,
            mfa_required=decision.mfa_required,
        )

    async def on_policy_updated(self, event: PolicyUpdated) -> None:
        stored = await self.store.replace(
            event.organization_id, event.policy, self.clock.now(), event.requested_by
        )
        await self.applied.publish(
            PolicyApplied(
                occurred_at=self.clock.now(),
                correlation_id=event.correlation_id,
                organization_id=event.organization_id,
                policy=stored.rules,
                version=stored.version,
                updated_at=stored.updated_at,
                requested_by=event.requested_by,
            ),
            correlation_id=event.correlation_id,
        )
        log.info(
            "policy_applied",
            operation_id=event.correlation_id,
            stream=streams.POLICY_UPDATED,
            outcome="applied",
            organization_id=event.organization_id,
            version=stored.version,
        )
