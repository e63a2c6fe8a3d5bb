"""One clock for every service, so tests can move time in all processes at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class SystemClock:
    """Wall-clock UTC time, optionally shifted by the seconds written in ``offset_file``.

    The offset file is the test seam: end-to-end tests write e.g. ``960`` into it
    to let a 15-minute lockout lapse in every service process. Production settings
    refuse it.
    """

    offset_file: Path | None = None

    def now(self) -> datetime:
        current = datetime.now(UTC)
        if self.offset_file is None:
            return current
        try:
            offset = float(self.offset_file.read_text() or 0)
        except FileNotFoundError:
            offset = 0.0
        return current + timedelta(seconds=offset)


@dataclass
class FixedClock:
    """A clock that only moves when told to (unit and component tests)."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)
