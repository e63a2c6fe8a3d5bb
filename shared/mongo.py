"""MongoDB client construction, one database per service, and portable document expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from shared.clock import Clock
from shared.settings import ServiceSettings

Document = dict[str, Any]

log = structlog.get_logger("mfa.mongo")


def connect(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.mongodb_url.get_secret_value(),
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=5000,
        appname=f"mfa-{settings.service_name}",
    )


def service_database(
    client: AsyncMongoClient[Document], settings: ServiceSettings
) -> AsyncDatabase[Document]:
    return client[settings.database]


SWEEP_BATCH = 500


@dataclass(frozen=True)
class Retention:
    """A collection's documents are deleted once their ``field`` (a time) is ``keep`` old.

    MongoDB does this with a TTL index, FerretDB 1.x does not implement those (its
    createIndexes answers NotImplemented), so the owner sweeps: an indexed read of the
    expired ids, then a delete by id, the same on either server (docs/embedded-store.md).
    """

    collection: AsyncCollection[Document]
    field: str
    keep: timedelta = timedelta(0)

    async def ensure_index(self) -> None:
        await self.collection.create_index(self.field)

    async def sweep(self, now: datetime) -> int:
        """Delete what has expired: the ids first (a read), then those documents by id,
        ``SWEEP_BATCH`` at a time. On FerretDB a delete holds its database's writes for
        as long as it reads (deploy/ferretdb-patches/0003) and only an ``_id`` condition
        is answered by an index (0002, 0004): one delete by time scanned the whole
        collection with every login's write waiting (bench/README.md)."""
        expired = {self.field: {"$lte": now - self.keep}}
        deleted = 0
        while True:
            found = self.collection.find(expired, projection={"_id": 1}, limit=SWEEP_BATCH)
            ids = [doc["_id"] async for doc in found]
            if ids:
                done = await self.collection.delete_many({"_id": {"$in": ids}, **expired})
                deleted += done.deleted_count
            if len(ids) < SWEEP_BATCH:
                return deleted


async def keep_sweeping(retentions: Sequence[Retention], clock: Clock, every: float) -> None:
    """Sweep every ``every`` seconds; a failed sweep is logged and tried again next time."""
    while True:
        for retention in retentions:
            try:
                deleted = await retention.sweep(clock.now())
            except PyMongoError as exc:
                log.warning(
                    "sweep_failed", collection=retention.collection.name, error=type(exc).__name__
                )
                continue
            if deleted:
                log.info("documents_expired", collection=retention.collection.name, count=deleted)
        await asyncio.sleep(every)


async def run_once(
    db: AsyncDatabase[Document], name: str, migration: Callable[[], Awaitable[int]]
) -> None:
    """Run a data migration unless this database records it as done.

    The migration itself must be idempotent: a crash before it is recorded runs it again.
    """
    done = db["migrations"]
    if await done.find_one({"_id": name}) is not None:
        return
    moved = await migration()
    await done.update_one(
        {"_id": name}, {"$setOnInsert": {"done_at": datetime.now(UTC), "moved": moved}}, upsert=True
    )
    log.info("data_migrated", migration=name, documents=moved)
