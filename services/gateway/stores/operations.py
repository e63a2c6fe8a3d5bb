"""Admin operations awaiting confirmation from the services that own the data."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.events.outbox import Outbox, answered, kept
from shared.mongo import Document, Retention


class OperationStore:
    """Admin operations awaiting confirmation from the services that own the data."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._operations = db["operations"]
        self.retention = Retention(self._operations, "created_at", timedelta(days=7))
        self.outbox = Outbox(self._operations, _open_operation)

    async def ensure_indexes(self) -> None:
        await self.retention.ensure_index()
        await self._operations.create_index("operation_id")

    async def start(
        self,
        operation_id: str,
        kind: str,
        now: datetime,
        awaiting: dict[str, Document],
        **details: Any,
    ) -> None:
        """Record an operation and the event each owner is to answer (by owner)."""
        await self._operations.update_one(
            {"_id": operation_id},
            {"$set": {"kind": kind, "created_at": now, **details, **kept(awaiting)}},
            upsert=True,
        )

    async def applied(self, operation_id: str, by: str, now: datetime, **result: Any) -> None:
        await self._operations.update_one(
            {"_id": operation_id},
            {
                "$set": {f"applied.{by}": now, **result},
                "$setOnInsert": {"created_at": now},
                "$unset": answered(by),
            },
            upsert=True,
        )

    async def start_rows(
        self, operation_id: str, now: datetime, rows: dict[str, Document], **details: Any
    ) -> None:
        """An operation of many rows (an import): each row waits in a small document of
        its own, so an answer rewrites a few hundred bytes, never the whole import."""
        await self.start(operation_id, "import", now, {}, rows=len(rows), **details)
        if rows:
            await self._operations.insert_many(
                [
                    {
                        "_id": f"{operation_id}/{key}",
                        "operation_id": operation_id,
                        "kind": "import_row",
                        "created_at": now,
                        "unanswered": {key: entry},
                    }
                    for key, entry in rows.items()
                ],
                ordered=False,
            )

    async def row_applied(self, operation_id: str, key: str, now: datetime, outcome: str) -> None:
        await self._operations.update_one(
            {"_id": f"{operation_id}/{key}"},
            {"$set": {"applied_at": now, "outcome": outcome}, "$unset": answered(key)},
        )

    async def row_outcomes(self, operation_id: str) -> dict[str, str]:
        """Each applied row's outcome, by its key."""
        found = self._operations.find(
            {"operation_id": operation_id, "applied_at": {"$exists": True}},
            projection={"outcome": 1},
        )
        return {doc["_id"].partition("/")[2]: doc.get("outcome", "") async for doc in found}

    async def rows_applied(self, operation_id: str) -> int:
        return await self._operations.count_documents(
            {"operation_id": operation_id, "applied_at": {"$exists": True}}
        )

    async def result(self, operation_id: str) -> Document:
        """What the owners reported when they applied it (e.g. a version, a conflict)."""
        return await self._operations.find_one({"_id": operation_id}) or {}

    async def applied_by(self, operation_id: str) -> set[str]:
        doc = await self._operations.find_one({"_id": operation_id}, projection={"applied": 1})
        return set((doc or {}).get("applied", {}))


def _open_operation(now: datetime) -> Document:
    """Admin changes are sent again for a day: past that, an operator has been warned
    (every resend is logged) and looks at the service that never answers."""
    return {"created_at": {"$gt": now - timedelta(days=1)}}
