"""The loop that sends again what the outboxes hold once its answer is late."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from services.gateway.events.outbox import FIRST_RESEND, Outbox, Unanswered, next_resend
from shared import streams
from shared.clock import Clock
from shared.events import Event

# What a login's outbox awaits answers to (the rest are admin operations').
LOGIN_STREAMS = frozenset(
    {
        streams.LOGIN_ATTEMPTED,
        streams.CODE_SUBMITTED,
        streams.PASSKEY_REGISTRATION_SUBMITTED,
        streams.RECOVERY_CODES_REQUESTED,
        streams.PASSKEY_REGISTRATION_REQUESTED,
    }
)
log = structlog.get_logger("mfa.gateway")

Send = Callable[[Event], Awaitable[object]]


@dataclass(frozen=True)
class Channel:
    """How to send again what was sent on a stream: its event type and publisher."""

    event_type: type[Event]
    send: Send


@dataclass
class Redelivery:
    outboxes: Mapping[str, Outbox]  # by name: "logins", "operations"
    channels: Mapping[str, Channel]  # by stream
    clock: Clock
    scan_every: float
    _watching: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _unanswered_here: dict[tuple[str, str], int] = field(default_factory=dict)

    def sending(self, outbox: str, stream: str) -> Send:
        """The stream's publisher, watching for the answer to each event it sends (the
        document waiting for it is the event's correlation id)."""
        send = self.channels[stream].send

        async def send_and_watch(event: Event) -> None:
            await send(event)
            watched, due = (outbox, event.correlation_id), event.occurred_at + FIRST_RESEND
            self._watching[watched] = min(due, self._watching.get(watched, due))
            self._unanswered_here[watched] = self._unanswered_here.get(watched, 0) + 1

        return send_and_watch

    def answered(self, outbox: str, document_id: str) -> None:
        """An answer to what this replica sent for ``document_id`` was stored here: once
        every such send is answered, the watch ends without reading the document. An
        answer stored by another replica is seen by reading, when the watch is due."""
        watched = (outbox, document_id)
        left = self._unanswered_here.get(watched, 0) - 1
        if left > 0:
            self._unanswered_here[watched] = left
        elif watched in self._unanswered_here:
            del self._unanswered_here[watched]
            self._watching.pop(watched, None)

    async def resend_due(self, now: datetime) -> int:
        """Send again every watched event whose answer is late; answers how many."""
        sent = 0
        for watched, at in list(self._watching.items()):
            if at > now:
                continue
            self._watching[watched] = now + FIRST_RESEND  # should this fail, look again
            outbox = self.outboxes[watched[0]]
            next_looks = []
            for entry in await outbox.unanswered(watched[1], now):
                if entry.due_at > now:
                    next_looks.append(entry.due_at)
                elif await outbox.claim_resend(entry, now):  # else another replica did
                    await self._resend(entry)
                    sent += 1
                    next_looks.append(next_resend(now, entry.resends + 1))
            if next_looks:
                self._watching[watched] = min(next_looks)
            else:  # answered, or the login is over
                del self._watching[watched]
                self._unanswered_here.pop(watched, None)
        return sent

    async def scan(self, now: datetime) -> None:
        """Watch what any replica sent and is still unanswered (one that died, too)."""
        for name, outbox in self.outboxes.items():
            for document_id in await outbox.holders(now):
                self._watching.setdefault((name, document_id), now)

    async def keep_resending(self) -> None:
        last_scan = float("-inf")
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - last_scan >= self.scan_every:
                    await self.scan(self.clock.now())
                    last_scan = loop.time()
                await self.resend_due(self.clock.now())
            except (PyMongoError, RedisError) as exc:
                log.warning("resend_failed", error=type(exc).__name__)
            await asyncio.sleep(1)

    async def _resend(self, entry: Unanswered) -> None:
        channel = self.channels[entry.stream]
        await channel.send(channel.event_type.model_validate_json(entry.event))
        # A login's id is a secret (logged as its login_ref); an operation's is not.
        held_by = "correlation_id" if entry.stream in LOGIN_STREAMS else "operation_id"
        log.warning(
            "event_resent",
            stream=entry.stream,
            resends=entry.resends + 1,
            **{held_by: entry.document_id},
        )
