"""Wiring for the policy service: the one place that builds clients."""

from __future__ import annotations

from faststream import FastStream
from prometheus_client import CollectorRegistry

from services.policy import upgrade
from services.policy.handlers import PolicyHandlers
from services.policy.settings import PolicySettings
from services.policy.store import PolicyStore
from shared import streams
from shared.clock import Clock
from shared.events import LoginAttempted, LoginDecided, PolicyApplied
from shared.service import stream_service


def create_app(
    settings: PolicySettings | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> FastStream:
    settings = settings or PolicySettings()
    service = stream_service(settings, streams.POLICY_GROUP, clock, registry)
    store = PolicyStore(service.database)
    handlers = PolicyHandlers(
        store=store,
        clock=service.clock,
        decided=service.wiring.publisher(streams.LOGIN_DECIDED, LoginDecided),
        applied=service.wiring.publisher(streams.POLICY_APPLIED, PolicyApplied),
        relying_party=settings.relying_party(),
        publishing=settings.concurrency,
    )
    service.wiring.batch_consumer(streams.LOGIN_ATTEMPTED, LoginAttempted)(
        handlers.on_logins_attempted
    )
    service.wiring.consumer(streams.POLICY_UPDATED)(handlers.on_policy_updated)

    async def prepare() -> None:
        await upgrade.bring_into_organizations(service.database)
        await store.ensure_indexes()

    return service.app(prepare)
