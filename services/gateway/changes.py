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
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class ChangeFeed:
    def __init__(self, poll_seconds: float = 0.5) -> None:
        self.poll_seconds = poll_seconds
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, key: str) -> None:
        for waiter in self._waiters.get(key, ()):
            waiter.set()

    async def wait_for(
        self, key: str, probe: Callable[[], Awaitable[T | None]], within: float
    ) -> T | None:
        """The first non-None ``probe()`` within ``within`` seconds, re-probed on each change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        woken = asyncio.Event()
        self._waiters[key].add(woken)
        try:
            while True:
                woken.clear()
                found = await probe()
                remaining = deadline - loop.time()
                if found is not None or remaining <= 0:
                    return found
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(remaining, self.poll_seconds))
        finally:
            self._waiters[key].discard(woken)
            if not self._waiters[key]:
                del self._waiters[key]
