"""What every stream service does at start and stop, in one place."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
import uvloop
from faststream import FastStream
from faststream.redis import RedisBroker, RedisRouter
from faststream.specification import AsyncAPI
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import Clock, SystemClock
from shared.logging import LOG_PSEUDONYM_PURPOSE, configure_logging
from shared.messaging import StreamWiring, build_broker, describe_validation_error
from shared.metrics import StreamBacklog, operators_registry, without_created_series
from shared.metrics import serve as serve_metrics
from shared.mongo import Document, connect, service_database
from shared.replicas import Replica
from shared.settings import ServiceSettings
from shared.tracing import NO_TRACING, tracer_provider
from shared.tracing import shutdown as shutdown_tracing

log = structlog.get_logger("mfa.service")

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """While serving, what start-up built (modules, apps, clients: it lives as long as
    the service) is out of the cyclic collector's reach. Full collections walked all of
    it, 40 to 100 ms each with every request waiting: the code step's p99
    (bench/README.md). Given back at stop, for processes that start apps again (tests)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@dataclass(frozen=True)
class StreamService:
    """What every stream service's wiring starts from: its clock, metrics registry,
    tracing, broker, router (with the stream prefix), the wiring of its consumer
    group, and its own database. ``app`` finishes it into the FastStream app."""

    settings: ServiceSettings
    clock: Clock
    registry: CollectorRegistry
    tracing: TracerProvider
    broker: RedisBroker
    router: RedisRouter
    wiring: StreamWiring
    mongo: AsyncMongoClient[Any]
    database: AsyncDatabase[Document]

    def app(self, prepare: Callable[[], Awaitable[None]]) -> FastStream:
        """The app, once the handlers are on the router: ``prepare`` (migrations,
        indexes) runs at start, before anything is consumed."""
        self.broker.include_router(self.router)
        return stream_app(
            self.settings,
            self.broker,
            self.wiring,
            self.mongo,
            prepare=prepare,
            registry=self.registry,
            tracing=self.tracing,
        )


def stream_service(
    settings: ServiceSettings,
    group: str,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> StreamService:
    """Start a stream service's wiring: tests hand in their own clock and registry."""
    clock = clock or SystemClock(settings.clock_offset_file)
    registry = registry or operators_registry()
    tracing = tracer_provider(settings)
    router = RedisRouter(prefix=settings.stream_prefix)
    mongo = connect(settings)
    return StreamService(
        settings=settings,
        clock=clock,
        registry=registry,
        tracing=tracing,
        broker=build_broker(settings, clock, registry, tracing),
        router=router,
        wiring=StreamWiring(settings, router, group, clock),
        mongo=mongo,
        database=service_database(mongo, settings),
    )


def stream_app(
    settings: ServiceSettings,
    broker: RedisBroker,
    wiring: StreamWiring,
    mongo: AsyncMongoClient[Any],
    prepare: Callable[[], Awaitable[None]],
    registry: CollectorRegistry,
    tracing: TracerProvider = NO_TRACING,
) -> FastStream:
    """A FastStream app whose lifespan creates groups and indexes before consuming."""
    backlog = StreamBacklog(settings, wiring.group, wiring.consumed)
    registry.register(backlog)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        redis = await wiring.prepare(broker)
        await prepare()
        replica = Replica(redis, settings, wiring.group, wiring.consumed)
        await replica.recover_own()
        watching = asyncio.create_task(replica.keep_watch())
        refreshing = asyncio.create_task(backlog.keep_refreshing(redis))
        server = None
        if settings.metrics_port:
            server = serve_metrics(
                registry,
                settings.metrics_host,
                settings.metrics_port,
                ready=lambda: replica.ready(time.time()),
            )
        log.info(
            "service_started",
            consumer=settings.consumer_name,
            streams=[settings.stream(s) for s in wiring.consumed],
        )
        try:
            with startup_heap_frozen():
                yield
        finally:
            watching.cancel()
            refreshing.cancel()
            if server is not None:
                await asyncio.to_thread(server.shutdown)
                server.server_close()
            await replica.leave()
            await mongo.close()
            shutdown_tracing(tracing)
            log.info("service_stopped", consumer=settings.consumer_name)

    return FastStream(
        broker,
        lifespan=lifespan,
        logger=logging.getLogger(f"mfa.{settings.service_name}.app"),
        specification=AsyncAPI(
            broker,
            title=f"Imageshop MFA - {settings.service_name} service",
            version="1.0.0",
            description=f"Streams the {settings.service_name} service consumes and produces.",
        ),
    )


def load_settings(settings_cls: type[SettingsT]) -> SettingsT:
    """Read settings from the environment, or exit saying what is wrong."""
    try:
        return settings_cls()
    except ValidationError as exc:
        print(f"configuration error: {describe_validation_error(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


def run(settings_cls: type[SettingsT], create_app: Callable[[SettingsT], FastStream]) -> None:
    settings = load_settings(settings_cls)
    configure_logging(
        settings.service_name,
        settings.log_format,
        settings.log_level,
        production=settings.env == "production",
        pseudonym_key=settings.keyring.derive(LOG_PSEUDONYM_PURPOSE),
    )
    without_created_series()
    uvloop.run(create_app(settings).run())
