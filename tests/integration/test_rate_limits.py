"""Failure budgets on the real Redis: a burst of concurrent tries cannot outrun them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from limits import parse
from redis.asyncio import Redis

from services.gateway.stores.rate_limits import FailureBudget

PREFIX = "test-budget-"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def budget(redis: Redis) -> FailureBudget:
    async def connect() -> Redis:
        return redis

    return FailureBudget(connect, PREFIX + uuid.uuid4().hex, parse("5/15 minutes"))


async def test_a_burst_of_tries_gets_exactly_the_budget(budget: FailureBudget) -> None:
    taken = await asyncio.gather(*(budget.take("address", "203.0.113.7") for _ in range(20)))
    assert sum(t is not None for t in taken) == 5
    assert await budget.take("address", "198.51.100.1")  # another address: its own budget


async def test_a_try_given_back_frees_its_place_and_the_count_expires(
    budget: FailureBudget, redis: Redis
) -> None:
    tries = [await budget.take("address", "a") for _ in range(5)]
    assert await budget.take("address", "a") is None
    assert tries[0] is not None
    await budget.give_back(tries[0])  # it succeeded: only failures stay counted
    assert await budget.take("address", "a") is not None
    await budget.take("address", "203.0.113.7")
    keys = [k async for k in redis.scan_iter(f"{PREFIX}*")]
    assert keys
    for key in keys:
        assert 0 < await redis.ttl(key) <= 15 * 60
        assert b"203.0.113.7" not in key  # no address in a key: its digest


async def test_a_try_given_back_after_its_window_leaves_the_next_windows_count(
    redis: Redis,
) -> None:
    async def connect() -> Redis:
        return redis

    budget = FailureBudget(connect, PREFIX + uuid.uuid4().hex, parse("5/second"))
    earlier = await budget.take("address", "b")
    assert earlier is not None
    await asyncio.sleep(1.1)  # the next one-second window
    later = await budget.take("address", "b")  # a failure counted there
    assert later is not None
    await budget.give_back(earlier)  # the earlier try succeeded, late
    assert await redis.get(later.key) == b"1"
