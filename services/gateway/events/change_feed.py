"""Wake HTTP requests that wait for a login or an admin operation to change.

Stream handlers write the change to MongoDB, then publish its key on a Redis
pub/sub channel that every gateway replica listens to; whichever replica holds
the waiting request re-reads MongoDB. A lost notification costs at most
``poll_seconds``, never the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Watch:
    """Changes to one key, counted from the moment the watch began."""

    def __init__(self, woken: asyncio.Event, poll_seconds: float) -> None:
        self._woken = woken
        self._poll_seconds = poll_seconds

    async def until(
        self, probe: Callable[[], Awaitable[T | None]], within: float, probe_now: bool = True
    ) -> T | None:
        """The first non-None ``probe()`` within ``within`` seconds, re-probed on each
        change. ``probe_now=False`` waits for a change (or a poll) first: for a caller
        that has just read the state itself, or has just sent what will change it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        if not probe_now:
            await self._wait(deadline - loop.time())
        while True:
            self._woken.clear()
            found = await probe()
            remaining = deadline - loop.time()
            if found is not None or remaining <= 0:
                return found
            await self._wait(remaining)

    async def _wait(self, remaining: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), max(0.0, min(remaining, self._poll_seconds)))


class ChangeFeed:
    def __init__(self, poll_seconds: float = 0.5) -> None:
        self.poll_seconds = poll_seconds
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, key: str) -> None:
        for waiter in self._waiters.get(key, ()):
            waiter.set()

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[Watch]:
        """Watch ``key`` from now on: a change notified while the caller reads or sends
        something is not missed."""
        woken = asyncio.Event()
        self._waiters[key].add(woken)
        try:
            yield Watch(woken, self.poll_seconds)
        finally:
            self._waiters[key].discard(woken)
            if not self._waiters[key]:
                del self._waiters[key]

    async def wait_for(
        self, key: str, probe: Callable[[], Awaitable[T | None]], within: float
    ) -> T | None:
        """The first non-None ``probe()`` within ``within`` seconds, re-probed on each change."""
        with self.watch(key) as watch:
            return await watch.until(probe, within)
