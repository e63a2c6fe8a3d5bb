"""Wiring for the gateway: the one place that builds clients, flows and routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from faststream.redis import RedisBroker, RedisRouter
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry, Gauge
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from services.gateway import upgrade
from services.gateway.access import AccessObserved
from services.gateway.api import admin as admin_api
from services.gateway.api import imports as imports_api
from services.gateway.api import operator as operator_api
from services.gateway.api import passkeys as passkeys_api
from services.gateway.api import policy as policy_api
from services.gateway.api import routes as api_routes
from services.gateway.api.edge import BODY_LIMIT, Edge
from services.gateway.api.errors import install_error_handlers
from services.gateway.events.batches import GatewayBatches
from services.gateway.events.change_feed import ChangeFeed
from services.gateway.events.handlers import GatewayHandlers
from services.gateway.events.notices import Notices
from services.gateway.events.redelivery import Channel, Redelivery
from services.gateway.presentation.wording import minute_after, minutes_until
from services.gateway.readiness import Readiness
from services.gateway.settings import GatewaySettings
from services.gateway.state import GatewayState
from services.gateway.stores.api_keys import ApiKeys, ConfiguredKeys
from services.gateway.stores.database import Stores
from services.gateway.stores.rate_limits import Limits, Throttle
from services.gateway.use_cases.administration import AdminFlow
from services.gateway.use_cases.imports import FINGERPRINT_PURPOSE, ImportFlow
from services.gateway.use_cases.login import LoginFlow
from services.gateway.use_cases.passkeys import PasskeyService
from services.gateway.use_cases.self_service import SelfService
from services.gateway.web import admin as admin_pages
from services.gateway.web import admin_imports, admin_users, mfa_step, pages, security
from services.gateway.web import passkeys as passkey_pages
from services.gateway.web import self_service as self_service_pages
from services.gateway.web.form_errors import page_error
from services.gateway.web.stores import WebStores
from shared import streams
from shared.clock import Clock, SystemClock
from shared.crypto import SecretBox
from shared.events import (
    AuthenticatorImported,
    AuthenticatorReset,
    AuthenticatorUnlocked,
    CodeSubmitted,
    CodeVerified,
    EnrollmentIssued,
    Event,
    LoginAttempted,
    LoginDecided,
    PasskeyRegistrationRequested,
    PasskeysRemoved,
    PolicyUpdated,
    RecoveryCodesRequested,
    TokenResynced,
    UserNotice,
)
from shared.messaging import StreamWiring, build_broker, publish_correlated
from shared.metrics import StreamBacklog, operators_registry
from shared.mongo import (
    Document,
    connect,
    keep_sweeping,
    service_database,
)
from shared.replicas import Replica
from shared.service import startup_heap_frozen
from shared.tracing import shutdown as shutdown_tracing
from shared.tracing import tracer_provider

log = structlog.get_logger("mfa.gateway")
SERVERS = [{"url": "http://127.0.0.1:8000", "description": "make run (yours: your gateway's)"}]
TAGS = [  # by audience
    {"name": "logins", "description": "The relying application: start logins, send codes"},
    {"name": "self-service", "description": "After a passed code: recovery codes, devices"},
    {"name": "administration", "description": "An organization's admin key: policy, users"},
    {"name": "operator", "description": "The platform operator: organizations and keys"},
    {"name": "health", "description": "Probes and metrics"},
]
HERE = Path(__file__).resolve().parent


def create_app(
    settings: GatewaySettings | None = None,
    clock: Clock | None = None,
    limits_redis: Callable[[], Awaitable[Redis]] | None = None,
) -> FastAPI:
    """The gateway. Tests hand in their own clock, and ``limits_redis`` where the broker
    has no Redis behind it (FastStream's test broker): rate limits count in that one."""
    settings = settings or GatewaySettings()
    clock = clock or SystemClock(settings.clock_offset_file)
    registry = operators_registry()
    tracing = tracer_provider(settings)
    broker = build_broker(settings, clock, registry, tracing)
    router = RedisRouter(prefix=settings.stream_prefix)
    wiring = StreamWiring(settings, router, streams.GATEWAY_GROUP, clock)
    mongo = connect(settings)
    database = service_database(mongo, settings)
    stores = Stores.over(database)
    web_stores = WebStores.over(database, settings)
    feed = ChangeFeed()
    box = SecretBox(settings.keyring)
    changed = router.publisher(
        channel=streams.GATEWAY_CHANGED, description="Login or operation id that changed"
    )

    async def announce(key: str) -> None:
        await changed.publish(key)

    redelivery = _redelivery(settings=settings, stores=stores, wiring=wiring, clock=clock)
    notices = Notices(publisher=wiring.publisher(streams.USER_NOTICE, UserNotice), clock=clock)
    handlers = GatewayHandlers(
        logins=stores.logins,
        operations=stores.operations,
        policy=stores.policy_view,
        authenticators=stores.authenticators,
        users=stores.users,
        devices=stores.devices,
        notices=notices,
        feed=feed,
        audit=stores.audit,
        clock=clock,
        announce=announce,
        enrollment_time=timedelta(seconds=settings.enrollment_ttl_seconds),
        login_answered=partial(redelivery.answered, "logins"),
    )
    _consume(wiring, router, handlers)
    backlog = StreamBacklog(settings, wiring.group, wiring.consumed)
    registry.register(backlog)
    throttle = _throttle(settings, limits_redis or broker.connect)
    login_flow, admin_flow = _flows(
        settings=settings,
        stores=stores,
        throttle=throttle,
        redelivery=redelivery,
        feed=feed,
        clock=clock,
        box=box,
        notices=notices,
        tracing=tracing,
    )
    self_service = SelfService(
        flow=login_flow,
        logins=stores.logins,
        devices=stores.devices,
        policy=stores.policy_view,
        feed=feed,
        clock=clock,
        box=box,
        publish_request=redelivery.sending("logins", streams.RECOVERY_CODES_REQUESTED),
        notices=notices,
        timeout=settings.code_timeout_seconds,
    )
    passkeys = PasskeyService(
        flow=login_flow,
        logins=stores.logins,
        admin=admin_flow,
        policy=stores.policy_view,
        organizations=stores.organizations,
        feed=feed,
        clock=clock,
        publish_request=redelivery.sending("logins", streams.PASSKEY_REGISTRATION_REQUESTED),
        default_party=settings.relying_party(),
        timeout=settings.code_timeout_seconds,
    )
    imports = ImportFlow(
        authenticators=stores.authenticators,
        operations=stores.operations,
        audit=stores.audit,
        feed=feed,
        clock=clock,
        box=box,
        fingerprint_key=settings.keyring.derive(FINGERPRINT_PURPOSE),
        publish=redelivery.sending("operations", streams.AUTHENTICATOR_IMPORTED),
        timeout=settings.import_timeout_seconds,
        users=stores.users,
    )
    broker.include_router(router)

    lifespan = _lifespan(
        settings=settings,
        clock=clock,
        broker=broker,
        wiring=wiring,
        both_stores=(stores, web_stores),
        redelivery=redelivery,
        mongo=mongo,
        observed=(backlog, tracing),
    )

    app = FastAPI(
        title="Imageshop MFA gateway",
        version="1.0.0",
        lifespan=lifespan,
        max_body_size=BODY_LIMIT,
        # Operation ids are the route functions' names (start_login, submit_code, ...):
        # what a generated client's methods are called.
        generate_unique_id_function=lambda route: route.name,
        servers=SERVERS,
        openapi_tags=TAGS,
    )
    replicas = Gauge(
        "mfa_downstream_replicas",
        "Live replicas of each service the gateway sends events to (from heartbeats)",
        ["service"],
        registry=registry,
    )
    api_keys = _api_keys(settings=settings, stores=stores, clock=clock)
    app.state.gateway = GatewayState(
        login_flow=login_flow,
        admin_flow=admin_flow,
        self_service=self_service,
        passkeys=passkeys,
        imports=imports,
        api_keys=api_keys,
        organizations=stores.organizations,
        keys=stores.keys,
        clock=clock,
        box=box,
        readiness=Readiness(settings, broker.connect, mongo, replicas),
        metrics=registry,
        broker=broker,
    )
    app.state.web = _pages(
        settings=settings,
        both_stores=(stores, web_stores),
        throttle=throttle,
        keys=api_keys,
        flows=(login_flow, admin_flow, self_service, passkeys, imports),
        clock=clock,
        box=box,
    )
    _serve(app, stores=web_stores, settings=settings, api_keys=api_keys, registry=registry)
    return app


def _lifespan(
    settings: GatewaySettings,
    clock: Clock,
    broker: RedisBroker,
    wiring: StreamWiring,
    both_stores: tuple[Stores, WebStores],
    redelivery: Redelivery,
    mongo: AsyncMongoClient[Document],
    observed: tuple[StreamBacklog, TracerProvider],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start: groups, indexes, what this replica held before a restart, then consume;
    and the loops that beat, sweep and resend. Stop: the same, in reverse."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        redis = await wiring.prepare(broker)
        stores, web_stores = both_stores
        await upgrade.bring_into_organizations(stores.db)  # before anything reads it
        await stores.prepare(clock)
        await web_stores.prepare()
        replica = Replica(redis, settings, wiring.group, wiring.consumed)
        await replica.recover_own()
        await broker.start()
        loops = [
            asyncio.create_task(replica.keep_watch()),
            asyncio.create_task(
                keep_sweeping(
                    stores.retentions + web_stores.retentions,
                    clock,
                    settings.sweep_interval_seconds,
                )
            ),
            asyncio.create_task(redelivery.keep_resending()),
            asyncio.create_task(observed[0].keep_refreshing(redis)),
        ]
        log.info(
            "gateway_started",
            url=f"http://{settings.host}:{settings.port}",
            consumer=settings.consumer_name,
        )
        try:
            with startup_heap_frozen():
                yield
        finally:
            for loop in loops:
                loop.cancel()
            try:
                await broker.stop()
            except Exception as exc:  # Redis gone first: what remains to close still is
                log.warning("broker_stop_incomplete", error=type(exc).__name__)
            await replica.leave()
            await mongo.close()
            shutdown_tracing(observed[1])

    return lifespan


def _serve(
    app: FastAPI,
    stores: WebStores,
    settings: GatewaySettings,
    api_keys: ApiKeys,
    registry: CollectorRegistry,
) -> None:
    """Routes, error answers and the layers every request passes through."""
    for router in (
        api_routes.router,
        policy_api.router,
        admin_api.router,
        passkeys_api.router,
        imports_api.router,
        operator_api.router,
        pages.router,
        mfa_step.router,
        self_service_pages.router,
        passkey_pages.router,
        admin_pages.router,
        admin_users.router,
        admin_imports.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "web/static"), name="static")
    install_error_handlers(app, page_error)
    app.add_middleware(
        security.SecurityHeadersAndSession,
        sessions=stores.sessions,
        secure_cookies=settings.secure_cookies,
    )
    app.add_middleware(Edge, api_keys=api_keys)  # before any body is read
    app.add_middleware(AccessObserved, registry=registry)  # outermost: sees every answer


def _flows(
    settings: GatewaySettings,
    stores: Stores,
    throttle: Throttle,
    redelivery: Redelivery,
    feed: ChangeFeed,
    clock: Clock,
    box: SecretBox,
    notices: Notices,
    tracing: TracerProvider,
) -> tuple[LoginFlow, AdminFlow]:
    login_flow = LoginFlow(
        logins=stores.logins,
        organizations=stores.organizations,
        authenticators=stores.authenticators,
        throttle=throttle,
        feed=feed,
        clock=clock,
        box=box,
        publish_attempt=redelivery.sending("logins", streams.LOGIN_ATTEMPTED),
        publish_code=redelivery.sending("logins", streams.CODE_SUBMITTED),
        publish_registration=redelivery.sending("logins", streams.PASSKEY_REGISTRATION_SUBMITTED),
        devices=stores.devices,
        policy=stores.policy_view,
        tracer=tracing.get_tracer("mfa.gateway"),
        login_ttl=timedelta(seconds=settings.login_ttl_seconds),
        enrollment_ttl=timedelta(seconds=settings.enrollment_ttl_seconds),
        code_timeout=settings.code_timeout_seconds,
        max_codes_per_login=settings.max_codes_per_login,
        max_wait=settings.max_wait_seconds,
    )
    admin_flow = AdminFlow(
        logins=stores.logins,
        operations=stores.operations,
        policy_view=stores.policy_view,
        authenticators=stores.authenticators,
        users=stores.users,
        devices=stores.devices,
        notices=notices,
        feed=feed,
        clock=clock,
        audit=stores.audit,
        publish_policy=redelivery.sending("operations", streams.POLICY_UPDATED),
        publish_reset=redelivery.sending("operations", streams.AUTHENTICATOR_RESET),
        publish_unlock=redelivery.sending("operations", streams.AUTHENTICATOR_UNLOCKED),
        publish_removal=redelivery.sending("operations", streams.PASSKEYS_REMOVED),
        publish_resync=redelivery.sending("operations", streams.TOKEN_RESYNCED),
        box=box,
        default_party=settings.relying_party(),
        timeout=settings.admin_timeout_seconds,
    )
    return login_flow, admin_flow


SENT: dict[str, type[Event]] = {  # what the gateway publishes, each awaiting an answer
    streams.LOGIN_ATTEMPTED: LoginAttempted,
    streams.CODE_SUBMITTED: CodeSubmitted,
    streams.PASSKEY_REGISTRATION_SUBMITTED: CodeSubmitted,
    streams.POLICY_UPDATED: PolicyUpdated,
    streams.AUTHENTICATOR_RESET: AuthenticatorReset,
    streams.AUTHENTICATOR_UNLOCKED: AuthenticatorUnlocked,
    streams.RECOVERY_CODES_REQUESTED: RecoveryCodesRequested,
    streams.PASSKEY_REGISTRATION_REQUESTED: PasskeyRegistrationRequested,
    streams.PASSKEYS_REMOVED: PasskeysRemoved,
    streams.AUTHENTICATOR_IMPORTED: AuthenticatorImported,
    streams.TOKEN_RESYNCED: TokenResynced,
}


def _redelivery(
    settings: GatewaySettings, stores: Stores, wiring: StreamWiring, clock: Clock
) -> Redelivery:
    return Redelivery(
        outboxes={"logins": stores.logins.outbox, "operations": stores.operations.outbox},
        channels={
            stream: Channel(
                event_type, partial(publish_correlated, wiring.publisher(stream, event_type))
            )
            for stream, event_type in SENT.items()
        },
        clock=clock,
        scan_every=settings.sweep_interval_seconds,
    )


def _throttle(settings: GatewaySettings, redis: Callable[[], Awaitable[Redis]]) -> Throttle:
    limits = Limits(
        per_account=settings.signin_limit_per_account,
        per_address=settings.signin_limit_per_address,
        codes_per_client=settings.code_limit_per_client,
    )
    return Throttle(
        redis_url=settings.redis_url.get_secret_value(),
        connect=redis,
        namespace=settings.stream_prefix or "mfa",
        limits=limits,
    )


def _api_keys(settings: GatewaySettings, stores: Stores, clock: Clock) -> ApiKeys:
    configured = ConfiguredKeys(
        [
            *((k, "client") for k in settings.client_api_keys),
            *((k, "admin") for k in settings.admin_api_keys),
            *((k, "operator") for k in settings.operator_api_keys),
        ]
    )
    return ApiKeys(configured=configured, issued=stores.keys, clock=clock)


def _pages(
    settings: GatewaySettings,
    both_stores: tuple[Stores, WebStores],
    throttle: Throttle,
    keys: ApiKeys,
    flows: tuple[LoginFlow, AdminFlow, SelfService, PasskeyService, ImportFlow],
    clock: Clock,
    box: SecretBox,
) -> pages.Web:
    templates = Jinja2Templates(directory=HERE / "web/templates")
    templates.env.filters["segment"] = pages.path_segment  # ids in URL paths, always encoded
    templates.env.globals["minutes_until"] = minutes_until
    templates.env.globals["minute_after"] = minute_after
    stores, web_stores = both_stores
    return pages.Web(
        templates=templates,
        sessions=web_stores.sessions,
        directory=web_stores.directory,
        logins=flows[0],
        admin=flows[1],
        self_service=flows[2],
        passkeys=flows[3],
        imports=flows[4],
        audit=stores.audit,
        limiter=throttle,
        clock=clock,
        box=box,
        admin_user_types=frozenset(settings.admin_user_types),
        keys=keys,
        secure_cookies=settings.secure_cookies,
    )


def _consume(wiring: StreamWiring, router: RedisRouter, handlers: GatewayHandlers) -> None:
    batches = GatewayBatches(handlers)
    wiring.batch_consumer(streams.LOGIN_DECIDED, LoginDecided)(batches.on_logins_decided)
    wiring.batch_consumer(streams.ENROLLMENT_ISSUED, EnrollmentIssued)(
        batches.on_enrollments_issued
    )
    wiring.consumer(streams.PASSKEY_CHALLENGED)(handlers.on_passkey_challenged)
    wiring.consumer(streams.CREDENTIAL_REGISTERED)(handlers.on_credential_registered)
    wiring.consumer(streams.PASSKEY_REGISTRATION_OPENED)(handlers.on_registration_opened)
    wiring.consumer(streams.AUTHENTICATOR_IMPORT_APPLIED)(handlers.on_import_applied)
    wiring.batch_consumer(streams.CODE_VERIFIED, CodeVerified)(batches.on_codes_verified)
    wiring.consumer(streams.CODE_REJECTED)(handlers.on_code_rejected)
    wiring.consumer(streams.POLICY_APPLIED)(handlers.on_policy_applied)
    wiring.consumer(streams.AUTHENTICATOR_RESET_APPLIED)(handlers.on_reset_applied)
    wiring.consumer(streams.RECOVERY_CODES_ISSUED)(handlers.on_recovery_codes_issued)
    # Pub/sub has nothing to acknowledge (FastStream refuses an ack policy there): a
    # missed wake-up costs the waiting request one poll (half a second), not a login.
    router.subscriber(channel=streams.GATEWAY_CHANGED)(handlers.on_changed)
