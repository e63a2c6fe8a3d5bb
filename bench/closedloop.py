"""The one client every system in a comparison is measured with.

Closed loop: ``concurrency`` workers each start an operation as soon as their last one
ended. The first ``warmup`` seconds are not counted; then a window of ``duration``
seconds is: operations that started and ended inside it give the latency percentiles,
operations that ended inside it give the rate. Counters sampled at the window's edges
(CPU seconds per process, database requests) are reported as their difference.

Each operation needs a TOTP code no system has seen: ``FreshCodes`` hands out every
(account, 30-second step) pair once, and waits for the next step when a step's pairs
run out (counted: a run that waits measures the pool, not the system).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyotp

STEP_SECONDS = 30
Snapshot = Callable[[], Mapping[str, float]]


class FreshCodes:
    """Hands out (account, current code) so that no account is used twice in one step."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._totps = {account: pyotp.TOTP(secret) for account, secret in secrets.items()}
        self._step = -1
        self._unused: list[str] = []
        self.waits = 0

    async def take(self) -> tuple[str, str]:
        while True:
            step = int(time.time()) // STEP_SECONDS
            if step != self._step:
                self._step, self._unused = step, list(self._totps)
            if self._unused:
                account = self._unused.pop()
                return account, self._totps[account].now()
            self.waits += 1
            await asyncio.sleep(STEP_SECONDS - time.time() % STEP_SECONDS + 0.05)


@dataclass
class LoopFigures:
    seconds: float
    completed: int
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    counters: dict[str, float] = field(default_factory=dict)  # differences across the window

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds

    def percentiles(self) -> dict[str, float]:
        ordered = sorted(self.latencies) or [float("nan")]

        def ms(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

        return {"p50_ms": ms(0.50), "p95_ms": ms(0.95), "p99_ms": ms(0.99)}

    def report(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "seconds": round(self.seconds, 1),
            "per_second": round(self.per_second, 1),
            **self.percentiles(),
            "errors": dict(self.errors),
        }


def _steady_client() -> None:
    """The client's own full collections (170 ms, with thousands of codes and latencies
    held) would count as the measured system's latency: what exists before a run is
    frozen out of the collector's reach."""
    gc.collect()
    gc.freeze()


async def closed_loop(
    operation: Callable[[], Awaitable[None]],
    concurrency: int,
    warmup: float,
    duration: float,
    snapshot: Snapshot = dict,
) -> LoopFigures:
    """Run ``operation`` from ``concurrency`` workers; an exception is an error, named
    by its type and message, and the worker goes on."""
    _steady_client()
    loop = asyncio.get_running_loop()
    opens = loop.time() + warmup
    closes = opens + duration
    figures = LoopFigures(seconds=duration, completed=0)
    before: dict[str, Mapping[str, float]] = {}

    async def sample_edges() -> None:
        await asyncio.sleep(max(0.0, opens - loop.time()))
        before["counters"] = snapshot()
        await asyncio.sleep(max(0.0, closes - loop.time()))
        after = snapshot()
        figures.counters = {k: after[k] - before["counters"].get(k, 0.0) for k in after}

    async def worker() -> None:
        while (started := loop.time()) < closes:
            try:
                await operation()
            except Exception as error:  # counted and reported; the run goes on
                if opens <= loop.time() <= closes:
                    figures.errors[f"{type(error).__name__}: {error}"[:120]] += 1
                continue
            ended = loop.time()
            if opens <= ended <= closes:
                figures.completed += 1
                if started >= opens:
                    figures.latencies.append(ended - started)

    await asyncio.gather(sample_edges(), *(worker() for _ in range(concurrency)))
    return figures


async def open_loop(
    operation: Callable[[], Awaitable[None]], per_second: float, warmup: float, duration: float
) -> LoopFigures:
    """Start ``operation`` ``per_second`` times a second, whether or not the ones before
    have ended (as independent users arrive); count those started inside the window."""
    _steady_client()
    loop = asyncio.get_running_loop()
    opens = loop.time() + warmup
    closes = opens + duration
    figures = LoopFigures(seconds=duration, completed=0)

    async def one(counted: bool) -> None:
        started = loop.time()
        try:
            await operation()
        except Exception as error:  # counted and reported; the run goes on
            if counted:
                figures.errors[f"{type(error).__name__}: {error}"[:120]] += 1
            return
        if counted:
            figures.completed += 1
            figures.latencies.append(loop.time() - started)

    running: list[asyncio.Task[None]] = []
    due = loop.time()
    while due < closes:
        running.append(asyncio.create_task(one(counted=due >= opens)))
        due += 1 / per_second
        await asyncio.sleep(max(0.0, due - loop.time()))
    await asyncio.gather(*running)
    return figures
