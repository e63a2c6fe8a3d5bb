"""Replicas of a service: heartbeats, and taking over what a dead one held.

Every replica beats once a ``heartbeat_seconds`` into a sorted set (consumer -> time of
its last beat). A replica silent for ``DEAD_AFTER_BEATS`` beats is dead: the first live
replica to remove it from the set (ZREM answers 1 to exactly one caller) takes over its
pending entries and marks them idle for ``reclaim_idle_ms``, so the reclaimers
(XAUTOCLAIM, polling every second) deliver them at once instead of after 30 s. A crash
then costs the users whose events it held a few seconds, not an error. If the taker dies
too, the entries stay pending and the ordinary 30 s reclaim still finds them.

A replica restarted under its old name takes back at start what that name held, and
every replica trims, now and then, the streams it consumes (shared.trimming).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.settings import ServiceSettings
from shared.trimming import trim

log = structlog.get_logger("mfa.replicas")

DEAD_AFTER_BEATS = 3
FORGET_AFTER_SECONDS = 60  # a beat older than this is dropped: a replica gone that
# long was taken over long since, or is back and beating again
_BATCH = 500
TRIM_EVERY_SECONDS = 30


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def heartbeat_key(settings: ServiceSettings, service: str) -> str:
    return settings.stream(f"mfa.heartbeat.{service}")


def dead_replicas(
    beats: dict[str, float], me: str, now: float, heartbeat_seconds: float
) -> list[str]:
    """The replicas, other than ``me``, that have missed ``DEAD_AFTER_BEATS`` beats."""
    silent_since = now - DEAD_AFTER_BEATS * heartbeat_seconds
    return sorted(name for name, last in beats.items() if name != me and last < silent_since)


async def live_replicas(redis: Redis, settings: ServiceSettings, service: str) -> int:
    fresh_since = time.time() - DEAD_AFTER_BEATS * settings.heartbeat_seconds
    return int(await redis.zcount(heartbeat_key(settings, service), fresh_since, "+inf"))


class Replica:
    """This process as one replica of its service: it beats, and watches the others."""

    def __init__(
        self, redis: Redis, settings: ServiceSettings, group: str, consumed: list[str]
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._group = group
        self._streams = [settings.stream(name) for name in consumed]
        self._key = heartbeat_key(settings, settings.service_name)
        self._me = settings.consumer_name
        self.last_beat: float | None = None  # when Redis last took this replica's beat

    async def beat(self, now: float) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._key, {self._me: now})
            pipe.zremrangebyscore(self._key, "-inf", now - FORGET_AFTER_SECONDS)
            await pipe.execute()

    async def take_over_dead(self, now: float) -> dict[str, int]:
        """Take over the pending entries of every dead replica this one is first to see;
        answers how many entries each held."""
        scored = cast(
            "list[tuple[bytes, float]]",
            await self._redis.zrange(self._key, 0, -1, withscores=True),
        )
        beats = {name.decode(): float(score) for name, score in scored}
        taken: dict[str, int] = {}
        for dead in dead_replicas(beats, self._me, now, self._settings.heartbeat_seconds):
            if await self._redis.zrem(self._key, dead):  # only one replica wins each
                taken[dead] = await self._take_over(dead)
                log.warning("replica_taken_over", dead=dead, entries=taken[dead])
        return taken

    async def recover_own(self) -> int:
        """Take back what this replica's name held in a previous life: a replica that
        restarts under the same name (a container restarted in place) beats again before
        anyone finds it dead, so no one else would take over its entries before the
        idle time. Call before consuming."""
        taken = await self._take_over(self._me)
        if taken:
            log.warning("replica_recovered", consumer=self._me, entries=taken)
        return taken

    async def leave(self) -> None:
        """A replica stopping cleanly has acknowledged its work: nothing to take over
        (best effort: if Redis is gone, the others find nothing pending either)."""
        try:
            await self._redis.zrem(self._key, self._me)
        except RedisError as exc:
            log.info("leave_failed", error=type(exc).__name__)

    async def _take_over(self, dead: str) -> int:
        """Hand every entry ``dead`` (and its reclaimer) holds to this replica's
        reclaimer, due at once; one pass, so taking over one's own name ends too."""
        taken: set[tuple[str, object]] = set()
        for stream in self._streams:
            for consumer in (dead, f"{dead}.reclaim"):
                after = "-"
                while held := await self._redis.xpending_range(
                    stream, self._group, after, "+", _BATCH, consumername=consumer
                ):
                    ids = [entry["message_id"] for entry in held]
                    await self._redis.xclaim(
                        stream,
                        self._group,
                        f"{self._me}.reclaim",
                        min_idle_time=0,
                        message_ids=cast("list[Any]", ids),
                        idle=self._settings.reclaim_idle_ms,  # due for XAUTOCLAIM now
                        justid=True,  # a handover, not a delivery: the count stays
                    )
                    taken.update((stream, i) for i in ids)
                    after = "(" + _text(ids[-1])  # the next page starts after the last
        return len(taken)

    async def keep_watch(self) -> None:
        """Beat, and take over dead replicas, until cancelled. Only a replica that has
        itself reached Redis for ``DEAD_AFTER_BEATS`` beats judges the others: after a
        Redis outage every beat is old, and the first one back must not take everyone's."""
        reachable_since: float | None = None
        trimmed_at = time.time()
        while True:
            now = time.time()
            try:
                await self.beat(now)
                self.last_beat = now
                reachable_since = reachable_since or now
                if now - reachable_since >= DEAD_AFTER_BEATS * self._settings.heartbeat_seconds:
                    await self.take_over_dead(now)
                if now - trimmed_at >= TRIM_EVERY_SECONDS:
                    trimmed_at = now
                    await self.trim_streams(now)
            except RedisError as exc:
                reachable_since = None
                log.warning("heartbeat_failed", error=type(exc).__name__)
            await asyncio.sleep(self._settings.heartbeat_seconds)

    def ready(self, now: float) -> bool:
        """Serving: its last beat reached Redis less than ``DEAD_AFTER_BEATS`` beats ago
        (beyond that the other replicas take its work over anyway)."""
        limit = DEAD_AFTER_BEATS * self._settings.heartbeat_seconds
        return self.last_beat is not None and now - self.last_beat < limit

    async def trim_streams(self, now: float) -> int:
        """Trim the consumed streams to what their groups need (shared.trimming)."""
        retention_ms = self._settings.stream_retention_seconds * 1000
        return sum(
            [
                await trim(self._redis, stream, int(now * 1000), retention_ms)
                for stream in self._streams
            ]
        )
