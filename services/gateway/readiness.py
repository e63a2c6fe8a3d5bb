"""Ready means: this gateway can serve. Its own dependencies (Redis, MongoDB) decide the
status; downstream services are reported beside it, never in it.

A verification outage must not take every gateway out of the load balancer: logins
that need no code, the admin pages and the hosted pages keep working, and codes wait
in their stream. Downstream replicas are counted in /readyz's details and in the
``mfa_downstream_replicas`` gauge, for alerts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Gauge
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.replicas import live_replicas
from shared.settings import ServiceSettings

DOWNSTREAM = ("policy", "enrollment", "verification")


@dataclass(frozen=True)
class Health:
    checks: dict[str, bool]  # this process's own dependencies
    downstream: dict[str, int]  # live replicas of each downstream service

    @property
    def ready(self) -> bool:
        return all(self.checks.values())


@dataclass(frozen=True)
class Readiness:
    settings: ServiceSettings
    redis: Callable[[], Awaitable[Redis]]
    mongo: AsyncMongoClient[Any]
    replicas: Gauge | None = field(default=None)

    async def check(self) -> Health:
        checks = {"redis": False, "mongodb": False}
        downstream = dict.fromkeys(DOWNSTREAM, 0)
        try:
            redis = await self.redis()
            checks["redis"] = bool(await redis.ping())
            for service in DOWNSTREAM:
                downstream[service] = await live_replicas(redis, self.settings, service)
        except RedisError:
            pass
        try:
            await self.mongo.admin.command("ping")
            checks["mongodb"] = True
        except PyMongoError:
            pass
        if self.replicas is not None:
            for service, count in downstream.items():
                self.replicas.labels(service).set(count)
        return Health(checks, downstream)
