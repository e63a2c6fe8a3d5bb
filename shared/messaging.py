"""Redis-streams wiring shared by the four services.

Each consumed stream gets two subscribers in the service's consumer group:
a live one (XREADGROUP) and a reclaimer (XAUTOCLAIM) that takes over entries a
crashed or stuck replica left unacknowledged for ``reclaim_idle_ms``. Groups are
created at id 0 before the subscribers start, so events published while a
service was down or not yet deployed are still delivered.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, TypeVar

import structlog
from faststream import AckPolicy, Context
from faststream.middlewares import BaseMiddleware
from faststream.redis import RedisBroker, RedisRouter, StreamSub
from faststream.redis.broker.cluster_broker import RedisClusterBroker
from faststream.redis.message import RedisBatchStreamMessage, RedisStreamMessage
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.context import Context as OtelContext
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import streams
from shared.clock import Clock, SystemClock
from shared.events import (
    AuthenticatorReset,
    AuthenticatorResetApplied,
    AuthenticatorUnlocked,
    DeadLettered,
    Event,
    PasskeysRemoved,
    reply_envelope,
)
from shared.metrics import broker_metrics
from shared.redis_connection import connection_class_for, is_cluster, node_url
from shared.tracing import NO_TRACING, broker_tracing

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from shared.settings import ServiceSettings

log = structlog.get_logger("mfa.messaging")

Handler = TypeVar("Handler", bound=Callable[..., Any])
Model = TypeVar("Model", bound=BaseModel)
Item = TypeVar("Item")
Result = TypeVar("Result")
BatchHandler = Callable[[list[Model]], Awaitable[None]]


class Publisher(Protocol):
    """What handlers need of a FastStream publisher (and what test fakes provide)."""

    async def publish(self, message: Any, *, correlation_id: str | None = None) -> Any: ...


def describe_validation_error(exc: ValidationError) -> str:
    """Name the fields that were wrong, never the values (they may be secrets)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
    )


class DeadLetterMiddleware(BaseMiddleware):
    """Park entries that can never be read on ``mfa.deadletter``, at once, and acknowledge
    them; never anything else.

    A handler that fails (a database outage, a bug fixed by the next deploy) leaves its
    entry pending: the reclaimer delivers it again every ``reclaim_idle_ms`` until it
    succeeds or an operator acts, and ``mfa_stream_oldest_pending_seconds`` shows how
    long the oldest one has waited. Losing it after a few tries would lose a reset, a
    policy change or a confirmation that the admin was told would apply.
    """

    def __init__(
        self, msg: Any, /, *, context: Any, settings: ServiceSettings, clock: Clock
    ) -> None:
        super().__init__(msg, context=context)
        self.settings = settings
        self.clock = clock

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        try:
            return await call_next(msg)
        except ValidationError as exc:
            await self._dead_letter(msg, "invalid payload: " + describe_validation_error(exc))
            return None
        except Exception as exc:
            if isinstance(msg, RedisStreamMessage | RedisBatchStreamMessage):
                log.warning(
                    "handler_failed",
                    stream=str(msg.raw_message.get("channel", "?")),
                    entries=len(msg.raw_message.get("message_ids", ())),
                    deliveries=await msg.get_delivery_count()
                    if isinstance(msg, RedisStreamMessage)
                    else None,
                    error=type(exc).__name__,
                    retry_in_ms=self.settings.reclaim_idle_ms,
                )
            raise

    async def _dead_letter(self, msg: Any, error: str) -> None:
        raw = msg.raw_message
        data = raw.get("data") if isinstance(raw, dict) else None
        body = msg.body.decode("utf-8", "replace") if isinstance(msg.body, bytes) else str(msg.body)
        letter = DeadLetter(
            stream=str(raw.get("channel", "?")),
            entry_ids=_ids(raw.get("message_ids", ())),
            correlation_id=msg.correlation_id,
            group=getattr(msg, "group", None),
            payload=body,
            original=data.get(b"__data__") if isinstance(data, dict) else None,
        )
        await letter.post(self.context.get("broker"), self.settings, self.clock, error)
        if isinstance(msg, RedisStreamMessage):
            await msg.ack()


@dataclass(frozen=True)
class DeadLetter:
    """An entry that can never be read, as ``mfa.deadletter`` keeps it for an operator."""

    stream: str
    entry_ids: tuple[str, ...]
    correlation_id: str | None
    group: str | None
    payload: str
    original: object  # the entry's data field as it was (bytes), for a replay

    async def post(
        self, broker: RedisBroker, settings: ServiceSettings, clock: Clock, error: str
    ) -> None:
        first = self.entry_ids[0] if self.entry_ids else "unknown"
        letter = DeadLettered(
            occurred_at=clock.now(),
            correlation_id=(self.correlation_id or first)[:128],
            stream=self.stream,
            entry_ids=self.entry_ids,
            group=self.group,
            error=error[:2000],
            payload=self.payload[:4000],
            original=base64.b64encode(self.original).decode()
            if isinstance(self.original, bytes)
            else None,
        )
        await broker.publish(
            letter, stream=settings.stream(streams.DEAD_LETTER), maxlen=settings.stream_maxlen
        )
        log.error("event_dead_lettered", stream=self.stream, entry_ids=self.entry_ids, error=error)


def _ids(ids: Any) -> tuple[str, ...]:
    return tuple(i.decode() if isinstance(i, bytes) else str(i) for i in ids)


async def _dead_letter_entry(
    broker: RedisBroker,
    message: RedisBatchStreamMessage,
    index: int,
    body: object,
    exc: ValidationError,
    wiring: StreamWiring,
) -> None:
    """One entry of a batch to the dead letters: the rest of the batch goes on."""
    raw = message.raw_message
    ids, entries = _ids(raw.get("message_ids", ())), list(raw.get("data", ()))
    entry = entries[index] if index < len(entries) else {}
    original = entry.get(b"__data__") if isinstance(entry, dict) else None
    letter = DeadLetter(
        stream=str(raw.get("channel", "?")),
        entry_ids=ids[index : index + 1],
        correlation_id=None,
        group=getattr(message, "group", None),
        payload=body.decode("utf-8", "replace")
        if isinstance(body, bytes)
        else json.dumps(body, default=str),
        original=original,
    )
    error = "invalid payload: " + describe_validation_error(exc)
    await letter.post(broker, wiring.settings, wiring.clock, error)


def reconnecting() -> dict[str, Any]:
    """redis-py options for every client: a restarted Redis leaves every pooled
    connection dead, so reconnect and retry the command at once."""
    return {
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=6),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def build_broker(
    settings: ServiceSettings,
    clock: Clock,
    registry: CollectorRegistry,
    tracing: TracerProvider = NO_TRACING,
) -> RedisBroker:
    """The service's broker: its one Redis connection pool (a cluster client for a
    ``redis+cluster://`` URL), metrics, dead letters and, when configured, tracing."""
    url = settings.redis_url.get_secret_value()
    options: dict[str, Any] = {
        # FastStream would otherwise fail each command on a stale connection into its
        # 5-second fetch backoff (consumers are idempotent, so a repeated XADD is safe).
        **reconnecting(),
        "middlewares": [
            *broker_tracing(tracing),  # outermost: the trace covers the handling
            broker_metrics(registry, settings.service_name),
            partial(DeadLetterMiddleware, settings=settings, clock=clock),
        ],
        "logger": logging.getLogger(f"mfa.{settings.service_name}.broker"),
        # FastStream's per-message "Received/Processed" lines go to DEBUG:
        # handlers log one structured line per event themselves.
        "log_level": logging.DEBUG,
        "graceful_timeout": 10.0,
    }
    if is_cluster(url):
        # A cluster client routes each stream's commands to the master of its slot. It
        # takes no connection class: a master restarted without its data stops the
        # consumers of its streams until the service restarts (run masters with AOF).
        return RedisClusterBroker(node_url(url), **options)
    return RedisBroker(url, connection_class=connection_class_for(url), **options)


# The trace context each entry of the batch being handled arrived with, by its
# correlation id: a batch is consumed in a span of its own (linked to every entry's),
# and each answer is published in the trace of the login it answers.
_BATCH_TRACES: ContextVar[Mapping[str, OtelContext] | None] = ContextVar(
    "batch_traces", default=None
)


async def publish_correlated(publisher: Publisher, event: Event) -> None:
    """Publish ``event`` under its correlation id (the login or operation), which
    FastStream's headers and the trace spans then carry."""
    trace_of_entry = (_BATCH_TRACES.get() or {}).get(event.correlation_id)
    token = otel_context.attach(trace_of_entry) if trace_of_entry is not None else None
    try:
        await publisher.publish(event, correlation_id=event.correlation_id)
    finally:
        if token is not None:
            otel_context.detach(token)


async def publish_all(answers: list[tuple[Publisher, Event]], at_once: int) -> None:
    """A batch's answers, published side by side, but never more at once than the
    service works on (each takes a connection from the Redis pool)."""
    room = asyncio.Semaphore(at_once)

    async def one(publisher: Publisher, event: Event) -> None:
        async with room:
            await publish_correlated(publisher, event)

    await asyncio.gather(*(one(p, e) for p, e in answers))


async def in_order_per_key(
    items: list[Item], key: Callable[[Item], str], handle: Callable[[Item], Awaitable[Result]]
) -> list[Result]:
    """``handle`` each item of a batch: those of one key (a user) one after another, in
    stream order, and different keys side by side. Results in the items' order."""
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(key(item), []).append(index)
    results: dict[int, Result] = {}

    async def in_order(indexes: list[int]) -> None:
        for index in indexes:
            results[index] = await handle(items[index])

    await asyncio.gather(*(in_order(g) for g in groups.values()))
    return [results[i] for i in range(len(items))]


class StreamWiring:
    """Declares a service's subscribers and publishers on its router."""

    def __init__(
        self,
        settings: ServiceSettings,
        router: RedisRouter,
        group: str,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.router = router
        self.group = group
        self.clock = clock or SystemClock()
        self.consumed: list[str] = []

    def consumer(self, stream: str) -> Callable[[Handler], Handler]:
        """Subscribe a handler to ``stream`` with live and reclaiming consumers.

        Acknowledged only when the handler returns (REJECT_ON_ERROR: on a stream a
        "reject" is no XACK): an entry whose handler raised stays pending, and the
        reclaiming consumer hands it to the handler again after ``reclaim_idle_ms``.
        That is how a failed handler is retried, never dropped; only a payload that can
        never be parsed goes to the dead letters (DeadLetterMiddleware).
        """
        self.consumed.append(stream)
        name = self.settings.consumer_name
        live = self.router.subscriber(
            # XREADGROUP BLOCK returns as soon as an entry arrives; a long block only
            # spares idle replicas from re-polling ten times a second. A read takes no
            # more than the replica works on at once: unbounded, the first replica to
            # read a backlog took all of it, and the others stood idle.
            stream=StreamSub(
                stream,
                group=self.group,
                consumer=name,
                polling_interval=2000,
                max_records=self.settings.concurrency,
            ),
            ack_policy=AckPolicy.REJECT_ON_ERROR,
            max_workers=self.settings.concurrency,
        )
        reclaim = self._reclaimer(stream)

        def register(handler: Handler) -> Handler:
            reclaim(handler)
            live(handler)
            return handler

        return register

    def batch_consumer(
        self, stream: str, schema: type[Model]
    ) -> Callable[[BatchHandler[Model]], BatchHandler[Model]]:
        """Subscribe a handler of many events at once (issue 22): the live consumer
        takes up to ``batch_size`` entries per XREADGROUP and hands over the readable
        ones in one call, acknowledged together when it returns (none if it raises: they
        stay pending, and the reclaimer hands each back on its own, as ``consumer``
        does). An entry that can never be read goes to the dead letters on its own,
        never with the batch it came in."""
        self.consumed.append(stream)
        name = self.settings.consumer_name
        live = self.router.subscriber(
            stream=StreamSub(
                stream,
                group=self.group,
                consumer=name,
                polling_interval=2000,
                max_records=self.settings.batch_size,
                batch=True,
            ),
            ack_policy=AckPolicy.REJECT_ON_ERROR,
        )
        reclaim = self._reclaimer(stream)

        def register(handler: BatchHandler[Model]) -> BatchHandler[Model]:
            async def one(event: Any) -> None:
                await handler([event])

            one.__annotations__ = {"event": schema, "return": None}  # what FastStream parses

            async def many(
                bodies: list[Any],
                message: Annotated[RedisBatchStreamMessage, Context("message")],
                broker: Annotated[RedisBroker, Context("broker")],
            ) -> None:
                events: list[Model] = []
                for index, body in enumerate(bodies):
                    try:
                        events.append(schema.model_validate(body))
                    except ValidationError as exc:
                        await _dead_letter_entry(broker, message, index, body, exc, self)
                traces = {
                    str(h["correlation_id"]): propagate.extract(h)
                    for h in message.batch_headers
                    if h.get("correlation_id")
                }
                token = _BATCH_TRACES.set(traces)
                try:
                    if events:
                        await handler(events)
                finally:
                    _BATCH_TRACES.reset(token)

            reclaim(one)
            live(many)
            return handler

        return register

    def _reclaimer(self, stream: str) -> Any:
        """The subscriber that takes over entries left pending for ``reclaim_idle_ms``
        (XAUTOCLAIM), one entry at a time."""
        return self.router.subscriber(
            stream=StreamSub(
                stream,
                group=self.group,
                consumer=f"{self.settings.consumer_name}.reclaim",
                min_idle_time=self.settings.reclaim_idle_ms,
                polling_interval=1000,
            ),
            ack_policy=AckPolicy.REJECT_ON_ERROR,
            # a dead replica's entries come back all at once (see shared.replicas)
            max_workers=self.settings.concurrency,
            include_in_schema=False,
        )

    def publisher(self, stream: str, schema: type[BaseModel]) -> Publisher:
        return self.router.publisher(
            stream=StreamSub(stream, maxlen=self.settings.stream_maxlen), schema=schema
        )

    async def prepare(self, broker: RedisBroker) -> Redis:
        """Connect, create the groups, and ready the publishers before anything is consumed.

        FastStream starts subscribers before publishers: with a backlog waiting, the
        first handlers would otherwise publish through a producer not yet set.
        """
        redis: Redis = await broker.connect()
        await self.create_groups(redis)
        for publisher in broker.publishers:
            await publisher.start()
        return redis

    async def create_groups(self, redis: Redis) -> None:
        for stream in self.consumed:
            try:
                await redis.xgroup_create(
                    self.settings.stream(stream), self.group, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise


async def confirm_reset(
    event: AuthenticatorReset | AuthenticatorUnlocked | PasskeysRemoved,
    service: Literal["enrollment", "verification"],
    publisher: Publisher,
    clock: Clock,
) -> None:
    """Tell the gateway that this owner applied the operation on the user's
    authenticator (a reset: it forgot it; an unlock: it ended the lock; a removal: it
    forgot those passkeys)."""
    await publish_correlated(
        publisher, AuthenticatorResetApplied(**reply_envelope(event, clock.now()), service=service)
    )
    message, stream, outcome = _APPLIED[type(event)]
    log.info(message, operation_id=event.correlation_id, stream=stream, outcome=outcome)


_APPLIED: dict[type[Event], tuple[str, str, str]] = {
    AuthenticatorReset: ("authenticator_forgotten", streams.AUTHENTICATOR_RESET, "reset"),
    AuthenticatorUnlocked: ("authenticator_unlocked", streams.AUTHENTICATOR_UNLOCKED, "unlocked"),
    PasskeysRemoved: ("passkeys_removed", streams.PASSKEYS_REMOVED, "removed"),
}
