"""Handlers on FastStream's in-memory test broker, stores on the MongoDB wire server."""

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.redis import RedisBroker
from pydantic import BaseModel

from shared.clock import FixedClock
from tests.conftest import Namespace


class Recorder:
    """Collects what a service publishes, per stream, as typed events."""

    def __init__(self, broker: RedisBroker, namespace: Namespace) -> None:
        self._broker = broker
        self._namespace = namespace
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._arrived: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def watch(self, stream: str, model: type[BaseModel]) -> None:
        async def record(event: BaseModel) -> None:
            self.events[stream].append(event)
            self._arrived[stream].set()

        record.__annotations__["event"] = model  # FastStream parses into the real model

        record.__name__ = f"record_{stream.replace('.', '_')}"
        self._broker.subscriber(stream=self._namespace.stream(stream))(record)

    def of(self, stream: str) -> list[Any]:
        return self.events[stream]

    async def first(self, stream: str, within: float = 5) -> Any:
        """The first event published on ``stream``, once there is one."""
        await asyncio.wait_for(self._arrived[stream].wait(), within)
        return self.events[stream][0]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 29, 12, 0, 10, tzinfo=UTC))
