"""Replicas watching each other over the real Redis: a dead one's work is taken over in
seconds, a live one's never."""

import asyncio
import time
from typing import Any

from faststream.redis import TestApp

from services.policy.app import create_app
from shared import streams
from shared.replicas import Replica, heartbeat_key
from shared.trimming import trim
from tests.conftest import Namespace
from tests.integration.test_streams import attempt, entries, redis, settings

__all__ = ["redis"]  # the fixture

SLOW_RECLAIM_MS = 60_000  # far beyond every wait below: only a takeover can serve in time


async def held_by(redis: Any, namespace: Namespace, replica: str, login_id: str) -> str:
    """An entry that ``replica`` read and never acknowledged, as if it then died."""
    source = namespace.stream(streams.LOGIN_ATTEMPTED)
    await redis.xgroup_create(source, streams.POLICY_GROUP, id="$", mkstream=True)
    await redis.xadd(source, {"__data__": attempt(login_id)})
    await redis.xreadgroup(streams.POLICY_GROUP, replica, {source: ">"}, count=1)
    return source


async def test_a_dead_replicas_entries_are_served_in_seconds_not_after_the_idle_time(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    source = await held_by(redis, namespace, "policy-dead", "orphan")
    service = settings(service_env, reclaim_idle_ms=SLOW_RECLAIM_MS, heartbeat_seconds=0.2)
    await redis.zadd(heartbeat_key(service, "policy"), {"policy-dead": time.time() - 5})
    started = time.monotonic()
    async with TestApp(create_app(service)):
        decided = await entries(redis, namespace.stream(streams.LOGIN_DECIDED), 1, within=5)
        taken_after = time.monotonic() - started
    assert [d["login_id"] for d in decided] == ["orphan"]
    assert taken_after < 5
    assert (await redis.xpending(source, streams.POLICY_GROUP))["pending"] == 0


async def test_the_entries_of_a_replica_that_still_beats_are_left_to_it(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    await held_by(redis, namespace, "policy-busy", "slow")
    service = settings(service_env, reclaim_idle_ms=SLOW_RECLAIM_MS, heartbeat_seconds=0.2)
    key = heartbeat_key(service, "policy")

    async def beating() -> None:
        while True:
            await redis.zadd(key, {"policy-busy": time.time()})
            await asyncio.sleep(0.1)

    beats = asyncio.create_task(beating())
    try:
        async with TestApp(create_app(service)):
            await asyncio.sleep(2)  # ten heartbeats of the watching replica
            decided = await redis.xlen(namespace.stream(streams.LOGIN_DECIDED))
    finally:
        beats.cancel()
    assert decided == 0
    [held] = await redis.xpending_range(
        namespace.stream(streams.LOGIN_ATTEMPTED), streams.POLICY_GROUP, "-", "+", 10
    )
    assert held["consumer"] == b"policy-busy"


async def test_of_two_replicas_seeing_a_death_only_one_takes_over(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    source = await held_by(redis, namespace, "policy-dead", "orphan")
    base = settings(service_env, reclaim_idle_ms=SLOW_RECLAIM_MS)
    watchers = [
        Replica(
            redis,
            base.model_copy(update={"consumer_name": name}),
            streams.POLICY_GROUP,
            [streams.LOGIN_ATTEMPTED],
        )
        for name in ("policy-a", "policy-b")
    ]
    now = time.time()
    await redis.zadd(heartbeat_key(base, "policy"), {"policy-dead": now - 10})
    taken = await asyncio.gather(*(w.take_over_dead(now) for w in watchers))
    assert sorted(taken, key=len) == [{}, {"policy-dead": 1}]
    [held] = await redis.xpending_range(source, streams.POLICY_GROUP, "-", "+", 10)
    assert held["consumer"].decode().endswith(".reclaim")
    assert held["time_since_delivered"] >= SLOW_RECLAIM_MS  # due for any reclaimer now
    assert held["times_delivered"] == 1  # a handover is not a delivery


async def test_a_replica_restarted_under_its_old_name_serves_what_it_held_at_once(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    source = await held_by(redis, namespace, "policy-same", "orphan")  # then it crashed
    service = settings(
        service_env, reclaim_idle_ms=SLOW_RECLAIM_MS, consumer_name="policy-same"
    )  # and came back at once, before anyone could find it dead
    async with TestApp(create_app(service)):
        decided = await entries(redis, namespace.stream(streams.LOGIN_DECIDED), 1, within=5)
    assert [d["login_id"] for d in decided] == ["orphan"]
    assert (await redis.xpending(source, streams.POLICY_GROUP))["pending"] == 0


async def test_streams_are_trimmed_to_what_the_slowest_group_still_needs(
    redis: Any, namespace: Namespace
) -> None:
    stream = namespace.stream(streams.LOGIN_ATTEMPTED)
    ids = [await redis.xadd(stream, {"n": str(n)}) for n in range(10)]
    for group in ("done", "slow"):
        await redis.xgroup_create(stream, group, id="0")
    await redis.xreadgroup("done", "a", {stream: ">"})
    await redis.xack(stream, "done", *ids)
    await redis.xreadgroup("slow", "b", {stream: ">"}, count=5)
    await redis.xack(stream, "slow", *ids[:3])  # entries 3 and 4 are still pending
    untouched = namespace.stream(streams.DEAD_LETTER)
    await redis.xadd(untouched, {"n": "0"})

    now_ms = int(time.time() * 1000) + 120_000  # every entry is past its retention
    removed = await trim(redis, stream, now_ms, retention_ms=60_000)
    assert removed == 3
    assert [entry_id for entry_id, _ in await redis.xrange(stream)] == ids[3:]
    assert await trim(redis, untouched, now_ms, retention_ms=60_000) == 0  # no group reads it
    assert await trim(redis, stream, now_ms, retention_ms=600_000) == 0  # recent history
