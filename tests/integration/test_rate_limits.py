"""Failure budgets on the real Redis: a burst of concurrent tries cannot outrun them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from limits import parse
from redis.asyncio import Redis

from services.gateway.stores.rate_limits import FailureBudget, Taken, TryLater

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
    assert sum(isinstance(t, Taken) for t in taken) == 5
    assert isinstance(await budget.take("address", "198.51.100.1"), Taken)  # its own budget


async def test_a_try_given_back_frees_its_place_and_the_count_expires(
    budget: FailureBudget, redis: Redis
) -> None:
    tries = [await budget.take("address", "a") for _ in range(5)]
    assert isinstance(await budget.take("address", "a"), TryLater)
    assert isinstance(tries[0], Taken)
    await budget.give_back(tries[0])  # it succeeded: only failures stay counted
    assert isinstance(await budget.take("address", "a"), Taken)
    await budget.take("address", "203.0.113.7")
    keys = [k async for k in redis.scan_iter(f"{PREFIX}*")]
    assert keys
    for key in keys:
        assert 0 < await redis.ttl(key) <= 2 * 15 * 60  # counted in the next window too
        assert b"203.0.113.7" not in key  # no address in a key: its digest


async def test_a_try_given_back_after_its_window_leaves_the_next_windows_count(
    redis: Redis,
) -> None:
    async def connect() -> Redis:
        return redis

    budget = FailureBudget(connect, PREFIX + uuid.uuid4().hex, parse("5/second"))
    earlier = await budget.take("address", "b")
    assert isinstance(earlier, Taken)
    await asyncio.sleep(1.1)  # the next one-second window
    later = await budget.take("address", "b")  # a failure counted there
    assert isinstance(later, Taken)
    await budget.give_back(earlier)  # the earlier try succeeded, late
    assert await redis.get(later.key) == b"1"


async def until_the_next_window(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds - time.time() % seconds + 0.02)


async def test_a_budget_spent_before_a_windows_edge_leaves_nothing_after_it(
    redis: Redis,
) -> None:
    """Fixed windows alone let twice the budget through in seconds across an edge."""

    async def connect() -> Redis:
        return redis

    budget = FailureBudget(connect, PREFIX + uuid.uuid4().hex, parse("3/2 seconds"))
    await until_the_next_window(2)
    spent = [await budget.take("account", "ada") for _ in range(3)]
    assert all(isinstance(t, Taken) for t in spent)
    full = await budget.take("account", "ada")  # this window alone is full
    assert isinstance(full, TryLater)
    assert full.at.timestamp() == (budget.window() + 2) * 2  # the next one counts it too
    await until_the_next_window(2)
    edge = await budget.take("account", "ada")
    assert isinstance(edge, TryLater)  # the last window's three still count
    assert edge.at.timestamp() == (budget.window() + 1) * 2
    await until_the_next_window(2)
    assert isinstance(await budget.take("account", "ada"), Taken)
