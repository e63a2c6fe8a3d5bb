"""Stream wiring against the real Redis: dead letters, crash recovery, late starters."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from faststream.redis import BinaryMessageFormatV1, RedisRouter, TestApp
from prometheus_client import CollectorRegistry

from deploy import deadletter
from services.policy.app import create_app
from services.policy.settings import PolicySettings
from shared import streams
from shared.clock import SystemClock
from shared.events import LoginAttempted, LoginDecided
from shared.messaging import StreamWiring, build_broker
from shared.metrics import StreamBacklog
from shared.mongo import connect
from shared.service import stream_app
from tests.conftest import Namespace
from tests.events import login_attempted

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


def attempt(login_id: str) -> bytes:
    return login_attempted(login_id, NOW).model_dump_json().encode()


async def entries(redis: Any, stream: str, count: int, within: float = 10) -> list[dict]:
    """Wait until ``stream`` holds ``count`` entries; return their decoded bodies."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        raw = await redis.xrange(stream)
        if len(raw) >= count or asyncio.get_running_loop().time() > deadline:
            return [_body(fields) for _, fields in raw]
        await asyncio.sleep(0.05)


def _body(fields: dict[bytes, bytes]) -> dict:
    body, _headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
    return json.loads(body)


def settings(service_env: dict[str, Any], **overrides: Any) -> PolicySettings:
    return PolicySettings(**{**service_env, **overrides})


async def test_an_unreadable_event_is_dead_lettered_and_the_next_one_still_served(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    async with TestApp(create_app(settings(service_env))):
        source = namespace.stream(streams.LOGIN_ATTEMPTED)
        await redis.xadd(source, {"__data__": b'{"login_id": 5, "code": "123456"}'})
        await redis.xadd(source, {"__data__": attempt("good")})
        [decided] = await entries(redis, namespace.stream(streams.LOGIN_DECIDED), 1)
        [letter] = await entries(redis, namespace.stream(streams.DEAD_LETTER), 1)
    assert LoginDecided.model_validate(decided).login_id == "good"
    assert letter["stream"] == source
    assert "login_id: Input should be a valid string" in letter["error"]
    assert "occurred_at: Field required" in letter["error"]
    assert "123456" not in letter["error"]
    assert (await redis.xpending(source, streams.POLICY_GROUP))["pending"] == 0


async def test_events_published_before_the_service_first_started_are_served(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    await redis.xadd(namespace.stream(streams.LOGIN_ATTEMPTED), {"__data__": attempt("early")})
    async with TestApp(create_app(settings(service_env))):
        [decided] = await entries(redis, namespace.stream(streams.LOGIN_DECIDED), 1)
    assert decided["login_id"] == "early"


async def test_work_a_crashed_replica_left_unacknowledged_is_reclaimed(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    source = namespace.stream(streams.LOGIN_ATTEMPTED)
    await redis.xgroup_create(source, streams.POLICY_GROUP, id="0", mkstream=True)
    await redis.xadd(source, {"__data__": attempt("orphan")})
    # A replica reads the entry and dies before acknowledging it.
    await redis.xreadgroup(streams.POLICY_GROUP, "crashed-replica", {source: ">"}, count=1)
    async with TestApp(create_app(settings(service_env, reclaim_idle_ms=1000))):
        [decided] = await entries(redis, namespace.stream(streams.LOGIN_DECIDED), 1)
    assert decided["login_id"] == "orphan"
    assert (await redis.xpending(source, streams.POLICY_GROUP))["pending"] == 0


def flaky_app(service_env: dict[str, Any], fail_times: int, **overrides: Any) -> tuple[Any, list]:
    """A one-handler service on the shared wiring whose handler fails ``fail_times`` times."""
    settings_ = settings(service_env, reclaim_idle_ms=1000, **overrides)
    clock = SystemClock()
    registry = CollectorRegistry()
    broker = build_broker(settings_, clock, registry)
    router = RedisRouter(prefix=settings_.stream_prefix)
    wiring = StreamWiring(settings_, router, "flaky")
    seen: list[str] = []

    @wiring.consumer(streams.LOGIN_ATTEMPTED)
    async def on_attempt(event: LoginAttempted) -> None:
        seen.append(event.login_id)
        if len(seen) <= fail_times:
            raise ConnectionError("database unavailable")

    broker.include_router(router)

    async def prepare() -> None:
        return None

    return stream_app(settings_, broker, wiring, connect(settings_), prepare, registry), seen


async def test_a_replica_takes_from_a_backlog_only_what_it_works_on_leaving_the_rest(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    source = namespace.stream(streams.LOGIN_ATTEMPTED)
    for n in range(20):
        await redis.xadd(source, {"__data__": attempt(f"backlog-{n}")})
    settings_ = settings(service_env, concurrency=2)
    registry = CollectorRegistry()
    broker = build_broker(settings_, SystemClock(), registry)
    router = RedisRouter(prefix=settings_.stream_prefix)
    wiring = StreamWiring(settings_, router, "busy")
    working, release = [], asyncio.Event()

    @wiring.consumer(streams.LOGIN_ATTEMPTED)
    async def on_attempt(event: LoginAttempted) -> None:
        working.append(event.login_id)
        await release.wait()  # busy: as a replica whose database is slow

    broker.include_router(router)

    async def prepare() -> None:
        return None

    app = stream_app(settings_, broker, wiring, connect(settings_), prepare, registry)
    async with TestApp(app):
        for _ in range(100):
            if len(working) == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # time to read more, had it wanted to
        held = (await redis.xpending(source, "busy"))["pending"]
        release.set()
    assert len(working) >= 2
    # The two it works on, and at most one more read of two waiting for a worker:
    # the other 16 stay in the stream for any replica to read.
    assert held <= 4, held


async def test_an_entry_whose_handler_failed_is_retried_until_it_succeeds(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    app, seen = flaky_app(service_env, fail_times=2)
    async with TestApp(app):
        await redis.xadd(namespace.stream(streams.LOGIN_ATTEMPTED), {"__data__": attempt("a")})
        for _ in range(100):
            if len(seen) == 3:
                break
            await asyncio.sleep(0.1)
        pending = await redis.xpending(namespace.stream(streams.LOGIN_ATTEMPTED), "flaky")
    assert seen == ["a", "a", "a"]
    assert pending["pending"] == 0


async def test_an_entry_failing_every_delivery_stays_pending_and_is_never_dropped(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    app, seen = flaky_app(service_env, fail_times=99)
    source = namespace.stream(streams.LOGIN_ATTEMPTED)
    async with TestApp(app):
        await redis.xadd(source, {"__data__": attempt("a")})
        for _ in range(100):  # delivered again every reclaim interval (1 s here)
            if len(seen) >= 7:
                break
            await asyncio.sleep(0.1)
        pending = await redis.xpending(source, "flaky")
        registry = CollectorRegistry()
        backlog = StreamBacklog(settings(service_env), "flaky", [streams.LOGIN_ATTEMPTED])
        registry.register(backlog)
        await backlog.refresh(redis)
        age = registry.get_sample_value(
            "mfa_stream_oldest_pending_seconds", {"stream": source, "group": "flaky"}
        )
    assert len(seen) >= 7  # beyond any old budget of 5
    assert pending["pending"] == 1
    assert age is not None
    assert age >= 5  # the entry first arrived over 5 deliveries ago
    assert await redis.xlen(namespace.stream(streams.DEAD_LETTER)) == 0


async def test_an_operator_lists_shows_replays_and_purges_dead_letters(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    source = namespace.stream(streams.LOGIN_ATTEMPTED)
    unreadable = b'{"login_id": 5}'
    async with TestApp(create_app(settings(service_env))):
        for data in (unreadable, b"not even json"):
            await redis.xadd(source, {"__data__": data})
        await entries(redis, namespace.stream(streams.DEAD_LETTER), 2)
    client = sync_redis.Redis.from_url(service_env["redis_url"])
    parked = deadletter.letters(client, namespace.stream_prefix)
    assert [found.stream for _, found in parked] == [source, source]
    first_id = parked[0][0]
    assert "login_id" in deadletter.letter(client, namespace.stream_prefix, first_id).error
    replayed = deadletter.replay(client, namespace.stream_prefix, first_id)
    [(_, fields)] = client.xrange(source, min=replayed, max=replayed)
    assert fields[b"__data__"] == unreadable  # exactly as it was first sent
    assert len(deadletter.letters(client, namespace.stream_prefix)) == 1
    assert deadletter.purge(client, namespace.stream_prefix, [parked[1][0]]) == 1
    assert deadletter.letters(client, namespace.stream_prefix) == []


async def test_the_group_backlog_is_exported_for_scaling_decisions(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    source = namespace.stream(streams.LOGIN_ATTEMPTED)
    await redis.xgroup_create(source, streams.POLICY_GROUP, id="0", mkstream=True)
    for login in ("a", "b", "c"):
        await redis.xadd(source, {"__data__": attempt(login)})
    await redis.xreadgroup(streams.POLICY_GROUP, "busy-replica", {source: ">"}, count=1)
    registry = CollectorRegistry()
    backlog = StreamBacklog(settings(service_env), streams.POLICY_GROUP, [streams.LOGIN_ATTEMPTED])
    registry.register(backlog)
    assert (
        registry.get_sample_value("mfa_stream_lag", {"stream": source, "group": "policy"}) is None
    )
    await backlog.refresh(redis)  # on the service's own pool, not at scrape time
    labels = {"stream": source, "group": streams.POLICY_GROUP}
    assert registry.get_sample_value("mfa_stream_lag", labels) == 2
    assert registry.get_sample_value("mfa_stream_pending", labels) == 1
