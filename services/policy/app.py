"""Wiring for the policy service: the one place that builds clients."""

from __future__ import annotations

from faststream import FastStream
from faststream.redis import RedisRouter
from prometheus_client import CollectorRegistry

from services.policy.handlers import PolicyHandlers
from services.policy.settings import PolicySettings
from services.policy.store import PolicyStore
from shared import streams
from shared.clock import Clock, SystemClock
from shared.events import LoginDecided, PolicyApplied
from shared.messaging import StreamWiring, build_broker
from shared.mongo import connect, run_once, service_database
from shared.service import stream_app
from shared.tracing import tracer_provider


def create_app(
    settings: PolicySettings | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> FastStream:
    settings = settings or PolicySettings()
    clock = clock or SystemClock(settings.clock_offset_file)
    registry = registry or CollectorRegistry()
    tracing = tracer_provider(settings)
    broker = build_broker(settings, clock, registry, tracing)
    router = RedisRouter(prefix=settings.stream_prefix)
    wiring = StreamWiring(settings, router, streams.POLICY_GROUP)
    mongo = connect(settings)
    database = service_database(mongo, settings)
    store = PolicyStore(database)
    handlers = PolicyHandlers(
        store=store,
        clock=clock,
        decided=wiring.publisher(streams.LOGIN_DECIDED, LoginDecided),
        applied=wiring.publisher(streams.POLICY_APPLIED, PolicyApplied),
    )
    wiring.consumer(streams.LOGIN_ATTEMPTED)(handlers.on_login_attempted)
    wiring.consumer(streams.POLICY_UPDATED)(handlers.on_policy_updated)
    broker.include_router(router)

    async def prepare() -> None:
        await run_once(database, "organizations", store.move_into_organizations)
        await store.ensure_indexes()

    return stream_app(
        settings, broker, wiring, mongo, prepare=prepare, registry=registry, tracing=tracing
    )
