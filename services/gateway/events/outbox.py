"""Events the gateway sent and still awaits an answer to: kept, and sent again when late.

Redis can lose an entry after XADD answered (a restart without persistence, a failover
to a replica that had not yet copied it). A login waiting on that entry would wait until
it expired, and an admin's change would never apply. So each awaited event is kept,
whole, in the document that waits for its answer (a login, an admin operation), in the
same write that starts the wait, and the write that records the answer removes it:
nothing is written for it beyond what the flow wrote anyway.

A replica watches what it sent and sends it again when its answer is late (after 10 s,
then 20, 40, 60, 60, ...). Every consumer is idempotent (the same submission gets the same
answer, the same policy update the same version), so a late original and its copy are
harmless. A periodic scan watches what other replicas sent, should they have died.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection

from shared.mongo import Document

FIRST_RESEND = timedelta(seconds=10)  # the gateway's own wait for an answer
LONGEST_WAIT = timedelta(seconds=60)


def next_resend(now: datetime, resends: int) -> datetime:
    """When to send again after ``resends`` resends: exponential, capped."""
    return now + min(FIRST_RESEND * (1 << min(resends, 8)), LONGEST_WAIT)


def awaiting(stream: str, event: BaseModel, now: datetime, *keys: str) -> dict[str, Document]:
    """``event``, kept until each answer ``keys`` name arrives (stored as
    ``unanswered.<key>`` in the document that waits for it)."""
    entry = {"stream": stream, "event": event.model_dump_json(), "due_at": now + FIRST_RESEND}
    return {key: {**entry, "resends": 0} for key in keys}


def kept(waits: dict[str, Document]) -> Document:
    """The ``$set`` that keeps ``waits`` in an existing document."""
    return {f"unanswered.{key}": entry for key, entry in waits.items()}


def answered(*keys: str) -> Document:
    """The ``$unset`` of the answers ``keys`` name (all of them, if none)."""
    return {f"unanswered.{key}": "" for key in keys} if keys else {"unanswered": ""}


@dataclass(frozen=True)
class Unanswered:
    document_id: str
    key: str
    stream: str
    event: str  # JSON, exactly as first sent (same event id)
    due_at: datetime
    resends: int


class Outbox:
    """The awaited events kept in one collection's documents. ``open_at(now)`` is the
    filter of documents still waiting (a live login); the others are let go."""

    def __init__(
        self, collection: AsyncCollection[Document], open_at: Callable[[datetime], Document]
    ) -> None:
        self._documents = collection
        self._open_at = open_at

    async def holders(self, now: datetime) -> list[str]:
        """Documents holding an awaited event (a scan: run it now and then, not per event)."""
        found = self._documents.find(
            {**self._open_at(now), "unanswered": {"$exists": True, "$ne": {}}},
            projection={"_id": 1},
        )
        return [doc["_id"] async for doc in found]

    async def unanswered(self, document_id: str, now: datetime) -> list[Unanswered]:
        doc = await self._documents.find_one(
            {"_id": document_id, **self._open_at(now)}, projection={"unanswered": 1}
        )
        entries: dict[str, Any] = (doc or {}).get("unanswered") or {}
        return [
            Unanswered(document_id, key, e["stream"], e["event"], e["due_at"], e["resends"])
            for key, e in entries.items()
        ]

    async def claim_resend(self, entry: Unanswered, now: datetime) -> bool:
        """Move the entry's due time on, if no other replica did first: the one that
        does sends it."""
        field = f"unanswered.{entry.key}"
        done = await self._documents.update_one(
            {"_id": entry.document_id, f"{field}.due_at": entry.due_at},
            {
                "$set": {
                    f"{field}.due_at": next_resend(now, entry.resends + 1),
                    f"{field}.resends": entry.resends + 1,
                }
            },
        )
        return done.modified_count == 1
