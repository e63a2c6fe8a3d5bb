"""Wake HTTP requests that wait for a login or an admin operation to change.

Stream handlers write the change to MongoDB, then publish its key on a Redis
pub/sub channel that every gateway replica listens to; whichever replica holds
the waiting request re-reads MongoDB. A lost notification costs at most
``poll_seconds``, never the answer.

On the replica whose handler wrote the change, the handler may also hand the change
itself to the waiting request (``notify(key, handed)``), which then applies it to the
state it holds instead of reading it back: only a change whose write matched is handed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Watch:
    """Changes to one key, counted from the moment the watch began; ``handed``: the
    last change a handler of this replica handed over, if any."""

    def __init__(self, poll_seconds: float) -> None:
        self._woken = asyncio.Event()
        self._poll_seconds = poll_seconds
        self.handed: object | None = None

    def wake(self, handed: object | None) -> None:
        if handed is not None:
            self.handed = handed
        self._woken.set()

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
        self._waiters: dict[str, set[Watch]] = defaultdict(set)

    def notify(self, key: str, handed: object | None = None) -> None:
        for waiter in self._waiters.get(key, ()):
            waiter.wake(handed)

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[Watch]:
        """Watch ``key`` from now on: a change notified while the caller reads or sends
        something is not missed."""
        watch = Watch(self.poll_seconds)
        self._waiters[key].add(watch)
        try:
            yield watch
        finally:
            self._waiters[key].discard(watch)
            if not self._waiters[key]:
                del self._waiters[key]

    async def wait_for(
        self, key: str, probe: Callable[[], Awaitable[T | None]], within: float
    ) -> T | None:
        """The first non-None ``probe()`` within ``within`` seconds, re-probed on each change."""
        with self.watch(key) as watch:
            return await watch.until(probe, within)
