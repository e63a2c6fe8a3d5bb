"""Wiring for the gateway: the one place that builds clients, flows and routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI
from faststream.redis import RedisBroker, RedisRouter

from services.gateway import api
from services.gateway.api import Presenter
from services.gateway.auth import ApiKeys
from services.gateway.changes import ChangeFeed
from services.gateway.errors import install_error_handlers
from services.gateway.flows import AdminFlow, LoginFlow
from services.gateway.handlers import GatewayHandlers
from services.gateway.read_models import AuthenticatorView, PolicyView
from services.gateway.readiness import Readiness
from services.gateway.settings import GatewaySettings
from services.gateway.store import LoginStore, OperationStore
from shared import streams
from shared.clock import Clock, SystemClock
from shared.crypto import SecretBox
from shared.events import AuthenticatorReset, CodeSubmitted, LoginAttempted, PolicyUpdated
from shared.messaging import StreamWiring, build_broker, keep_beating
from shared.mongo import connect, service_database

log = structlog.get_logger("mfa.gateway")


def create_app(settings: GatewaySettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    clock = clock or SystemClock(settings.clock_offset_file)
    broker = build_broker(settings, clock)
    router = RedisRouter(prefix=settings.stream_prefix)
    wiring = StreamWiring(settings, router, streams.GATEWAY_GROUP)
    mongo = connect(settings)
    db = service_database(mongo, settings)
    logins, operations = LoginStore(db), OperationStore(db)
    policy_view, authenticators = PolicyView(db), AuthenticatorView(db)
    feed = ChangeFeed()
    box = SecretBox(settings.keyring)
    changed = router.publisher(
        channel=streams.GATEWAY_CHANGED, description="Login or operation id that changed"
    )

    async def announce(key: str) -> None:
        await changed.publish(key)

    handlers = GatewayHandlers(
        logins, operations, policy_view, authenticators, feed, clock, announce
    )
    _consume(wiring, router, handlers)
    attempts = wiring.publisher(streams.LOGIN_ATTEMPTED, LoginAttempted)
    codes = wiring.publisher(streams.CODE_SUBMITTED, CodeSubmitted)
    policies = wiring.publisher(streams.POLICY_UPDATED, PolicyUpdated)
    resets = wiring.publisher(streams.AUTHENTICATOR_RESET, AuthenticatorReset)
    broker.include_router(router)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        redis = await wiring.prepare(broker)
        await logins.ensure_indexes()
        await operations.ensure_indexes()
        await broker.start()
        beating = asyncio.create_task(keep_beating(redis, settings))
        log.info(
            "gateway_started",
            url=f"http://{settings.host}:{settings.port}",
            consumer=settings.consumer_name,
        )
        try:
            yield
        finally:
            beating.cancel()
            await broker.stop()
            await mongo.close()

    app = FastAPI(title="Imageshop MFA gateway", version="1.0.0", lifespan=lifespan)
    app.state.broker = broker
    app.state.api_keys = ApiKeys(settings.client_api_keys, settings.admin_api_keys)
    app.state.presenter = Presenter(clock, box)
    app.state.readiness = Readiness(settings, broker.connect, mongo)
    app.state.login_flow = LoginFlow(
        logins,
        feed,
        clock,
        box,
        publish_attempt=attempts.publish,
        publish_code=codes.publish,
        login_ttl=timedelta(seconds=settings.login_ttl_seconds),
        code_timeout=settings.code_timeout_seconds,
    )
    app.state.admin_flow = AdminFlow(
        logins,
        operations,
        policy_view,
        authenticators,
        feed,
        clock,
        publish_policy=policies.publish,
        publish_reset=resets.publish,
        timeout=settings.admin_timeout_seconds,
    )
    app.include_router(api.router)
    install_error_handlers(app)
    return app


def _consume(wiring: StreamWiring, router: RedisRouter, handlers: GatewayHandlers) -> None:
    wiring.consumer(streams.LOGIN_DECIDED)(handlers.on_login_decided)
    wiring.consumer(streams.ENROLLMENT_ISSUED)(handlers.on_enrollment_issued)
    wiring.consumer(streams.CODE_VERIFIED)(handlers.on_code_verified)
    wiring.consumer(streams.CODE_REJECTED)(handlers.on_code_rejected)
    wiring.consumer(streams.POLICY_APPLIED)(handlers.on_policy_applied)
    wiring.consumer(streams.AUTHENTICATOR_RESET_APPLIED)(handlers.on_reset_applied)
    router.subscriber(channel=streams.GATEWAY_CHANGED)(handlers.on_changed)


def stream_broker(settings: GatewaySettings | None = None) -> RedisBroker:
    """The gateway's broker alone, for the AsyncAPI document."""
    broker: RedisBroker = create_app(settings).state.broker
    return broker
