"""Wiring for the enrollment service: the one place that builds clients."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from faststream import FastStream
from faststream.redis import RedisRouter
from prometheus_client import CollectorRegistry

from services.enrollment.handlers import EnrollmentHandlers
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.store import CredentialStore
from shared import streams
from shared.clock import Clock, SystemClock
from shared.crypto import SecretBox
from shared.events import AuthenticatorResetApplied, CredentialRegistered, EnrollmentIssued
from shared.messaging import StreamWiring, build_broker
from shared.mongo import connect, run_once, service_database
from shared.service import stream_app
from shared.tracing import tracer_provider


def create_app(
    settings: EnrollmentSettings | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> FastStream:
    settings = settings or EnrollmentSettings()
    clock = clock or SystemClock(settings.clock_offset_file)
    registry = registry or CollectorRegistry()
    tracing = tracer_provider(settings)
    broker = build_broker(settings, clock, registry, tracing)
    router = RedisRouter(prefix=settings.stream_prefix)
    wiring = StreamWiring(settings, router, streams.ENROLLMENT_GROUP)
    mongo = connect(settings)
    database = service_database(mongo, settings)
    store = CredentialStore(database)
    handlers = EnrollmentHandlers(
        store=store,
        box=SecretBox(settings.keyring),
        clock=clock,
        issuer=settings.issuer,
        offer_ttl=timedelta(seconds=settings.offer_ttl_seconds),
        issued=wiring.publisher(streams.ENROLLMENT_ISSUED, EnrollmentIssued),
        registered=wiring.publisher(streams.CREDENTIAL_REGISTERED, CredentialRegistered),
        reset_applied=wiring.publisher(
            streams.AUTHENTICATOR_RESET_APPLIED, AuthenticatorResetApplied
        ),
    )
    wiring.consumer(streams.LOGIN_DECIDED)(handlers.on_login_decided)
    wiring.consumer(streams.CODE_VERIFIED)(handlers.on_code_verified)
    wiring.consumer(streams.AUTHENTICATOR_RESET)(handlers.on_authenticator_reset)
    broker.include_router(router)

    async def prepare() -> None:
        move = partial(store.move_into_organizations, handlers.box)
        await run_once(database, "organizations", move)
        await store.ensure_indexes()

    return stream_app(
        settings, broker, wiring, mongo, prepare=prepare, registry=registry, tracing=tracing
    )
