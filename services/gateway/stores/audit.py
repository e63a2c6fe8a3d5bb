"""The admin console's recent events: policy changes, resets, verification outcomes."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.mongo import Document, Retention


@dataclass(frozen=True)
class AuditEvent:
    organization_id: str
    at: datetime
    kind: str  # policy_changed, authenticator_reset, code_verified, code_rejected
    subject: str  # the user, or "policy"
    detail: str
    actor: str | None = None
    source: str | None = None  # the event or operation it records: recorded once


class AuditLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._events = db["audit"]
        self.retention = Retention(self._events, "expires_at")

    async def ensure_indexes(self) -> None:
        await self._events.create_index([("organization_id", 1), ("at", DESCENDING)])
        await self.retention.ensure_index()

    async def record(self, event: AuditEvent, keep_days: int = 90) -> None:
        """Add a row; a row for the same ``source`` (a redelivered event) is not added twice."""
        with contextlib.suppress(DuplicateKeyError):
            await self._events.insert_one(_row(event, keep_days))

    async def record_many(self, events: list[AuditEvent], keep_days: int = 90) -> None:
        """A batch's rows in one request; a redelivered batch adds none twice (then the
        rows go one by one: FerretDB 1.24's reply to a bulk with a duplicate key is one
        PyMongo cannot read)."""
        if not events:
            return
        try:
            await self._events.insert_many([_row(e, keep_days) for e in events], ordered=False)
        except (BulkWriteError, KeyError):
            for event in events:
                await self.record(event, keep_days)

    async def latest(self, organization_id: str, limit: int = 25) -> list[AuditEvent]:
        cursor = (
            self._events.find({"organization_id": organization_id})
            .sort("at", DESCENDING)
            .limit(limit)
        )
        return [
            AuditEvent(
                organization_id, d["at"], d["kind"], d["subject"], d["detail"], d.get("actor")
            )
            async for d in cursor
        ]


def _row(event: AuditEvent, keep_days: int) -> Document:
    return {
        **({"_id": event.source} if event.source else {}),
        "organization_id": event.organization_id,
        "at": event.at,
        "kind": event.kind,
        "subject": event.subject,
        "detail": event.detail,
        "actor": event.actor,
        "expires_at": event.at + timedelta(days=keep_days),
    }
