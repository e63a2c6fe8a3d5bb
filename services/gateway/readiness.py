"""Ready means: Redis and MongoDB answer, and every downstream service has a live replica."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.messaging import live_replicas
from shared.settings import ServiceSettings

DOWNSTREAM = ("policy", "enrollment", "verification")


@dataclass(frozen=True)
class Readiness:
    settings: ServiceSettings
    redis: Callable[[], Awaitable[Redis]]
    mongo: AsyncMongoClient[Any]

    async def check(self) -> dict[str, bool]:
        checks = {"redis": False, "mongodb": False, **dict.fromkeys(DOWNSTREAM, False)}
        try:
            redis = await self.redis()
            checks["redis"] = bool(await redis.ping())
            for service in DOWNSTREAM:
                checks[service] = await live_replicas(redis, self.settings, service) > 0
        except RedisError:
            pass
        try:
            await self.mongo.admin.command("ping")
            checks["mongodb"] = True
        except PyMongoError:
            pass
        return checks
