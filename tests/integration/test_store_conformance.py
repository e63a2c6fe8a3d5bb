"""What the stores rely on the database for, asserted on whichever server the tests use.

The same assertions hold on MongoDB 7 (MONGODB_URL, or a container where Docker runs)
and on the embedded FerretDB. FerretDB 1.24.2 as released fails three of them: the
compare-and-set, the increments and the index test. The patches in
deploy/ferretdb-patches/ fix that (docs/embedded-store.md); this suite is how we know.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError

from shared.mongo import SWEEP_BATCH, Retention
from tests.conftest import Namespace

WRITERS = 50
ROUNDS = 5  # a race lost once can be luck; five times in a row is not
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# Plan stages that reach a document through an index rather than by reading them all:
# MongoDB 7 (IDHACK, IXSCAN) and 8 (EXPRESS_*).
INDEX_STAGES = {"IDHACK", "IXSCAN", "EXPRESS_IXSCAN", "EXPRESS_CLUSTERED_IXSCAN"}


@pytest.fixture
async def db(mongodb_url: str, namespace: Namespace) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield client[f"{namespace.database_prefix}conformance"]
    await client.close()


def _stages(plan: Any) -> set[str]:
    if isinstance(plan, dict):
        found = {plan["stage"]} if isinstance(plan.get("stage"), str) else set()
        return found.union(*(_stages(value) for value in plan.values()))
    if isinstance(plan, list):
        return set().union(*(_stages(value) for value in plan))
    return set()


def reads_through_an_index(explain: dict[str, Any]) -> bool:
    """Whether the server answers the explained query by index instead of a full scan."""
    planner = explain["queryPlanner"]
    if "Plan" in planner:  # FerretDB on SQLite: SQLite's own EXPLAIN QUERY PLAN lines
        return any("USING INDEX" in line for line in planner["Plan"]) and not any(
            line.split("detail=")[-1].startswith("SCAN") for line in planner["Plan"]
        )
    stages = _stages(planner["winningPlan"])
    return bool(stages & INDEX_STAGES) and "COLLSCAN" not in stages


async def warm_up(db: Any) -> None:
    """Open a connection per writer first, so the writers really run at once."""
    await asyncio.gather(*(db.command("ping") for _ in range(WRITERS)))


async def test_a_second_document_with_the_same_id_is_refused(db: Any) -> None:
    await db.things.insert_one({"_id": "a"})
    with pytest.raises(DuplicateKeyError):
        await db.things.insert_one({"_id": "a"})


async def test_a_unique_index_refuses_a_second_document_with_the_same_value(db: Any) -> None:
    await db.users.create_index("email", unique=True)
    await db.users.insert_one({"_id": "1", "email": "ada@example.com"})
    with pytest.raises(DuplicateKeyError):
        await db.users.insert_one({"_id": "2", "email": "ada@example.com"})
    assert await db.users.count_documents({}) == 1


async def test_an_upsert_whose_condition_misses_an_existing_id_is_a_duplicate(db: Any) -> None:
    """How the verification store tells "this credential is already known"."""
    await db.guards.insert_one({"_id": "u1", "credential_id": "c1"})
    with pytest.raises(DuplicateKeyError):
        await db.guards.update_one(
            {"_id": "u1", "credential_id": {"$ne": "c1"}},
            {"$set": {"credential_id": "c1"}},
            upsert=True,
        )


async def test_of_many_concurrent_compare_and_sets_exactly_one_wins(db: Any) -> None:
    await warm_up(db)
    for round_ in range(ROUNDS):
        key = f"u{round_}"
        await db.guards.insert_one({"_id": key, "version": 0, "writes": 0})

        async def write(writer: int, key: str = key) -> int:
            result = await db.guards.update_one(
                {"_id": key, "version": 0},
                {"$set": {"version": 1, "writer": writer}, "$inc": {"writes": 1}},
            )
            return int(result.modified_count)

        results = await asyncio.gather(*(write(w) for w in range(WRITERS)))
        stored = await db.guards.find_one({"_id": key})
        assert (sum(results), stored["writes"]) == (1, 1), f"round {round_}"
        assert stored["writer"] == results.index(1)


async def test_concurrent_increments_are_never_lost(db: Any) -> None:
    """The policy store numbers versions with $inc in find_one_and_update."""

    async def bump() -> int:
        doc = await db.policies.find_one_and_update(
            {"_id": "current"},
            {"$inc": {"version": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["version"])

    await warm_up(db)
    await bump()
    versions = await asyncio.gather(*(bump() for _ in range(WRITERS)))
    assert sorted(versions) == list(range(2, WRITERS + 2))


async def test_of_many_concurrent_conditional_deletes_exactly_one_deletes(db: Any) -> None:
    await warm_up(db)
    for round_ in range(ROUNDS):
        key = f"c{round_}"
        await db.claims.insert_one({"_id": key, "owner": None})
        results = await asyncio.gather(
            *(db.claims.delete_one({"_id": key, "owner": None}) for _ in range(WRITERS))
        )
        assert sum(r.deleted_count for r in results) == 1, f"round {round_}"


async def test_an_upsert_sets_insert_only_fields_once(db: Any) -> None:
    for attempt in (1, 2):
        await db.guards.update_one(
            {"_id": "u1"},
            {"$set": {"secret": f"s{attempt}"}, "$setOnInsert": {"failures": 0, "first": attempt}},
            upsert=True,
        )
    assert await db.guards.find_one({"_id": "u1"}) == {
        "_id": "u1",
        "secret": "s2",
        "failures": 0,
        "first": 1,
    }


async def test_point_reads_and_updates_go_through_the_id_index_at_any_size(db: Any) -> None:
    """Constant work per lookup as the collection grows (the timings are in bench/)."""
    for size in (100, 5000):
        have = await db.guards.count_documents({})
        await db.guards.insert_many([{"_id": f"user-{i}", "version": 0} for i in range(have, size)])
        last = f"user-{size - 1}"
        some = {"$in": [f"user-{size // 2}", last]}  # a sweep deletes by a batch of ids
        for query in ({"_id": last}, {"_id": last, "version": 0}, {"_id": some, "version": 0}):
            explain = await db.command("explain", {"find": "guards", "filter": query})
            assert reads_through_an_index(explain), (size, query, explain["queryPlanner"])
        updated = await db.guards.update_one({"_id": last, "version": 0}, {"$set": {"version": 1}})
        assert updated.modified_count == 1
        assert await db.guards.find_one({"_id": last}) == {"_id": last, "version": 1}


async def test_a_sweep_deletes_what_has_expired_and_keeps_the_rest(db: Any) -> None:
    retention = Retention(db.sessions, "expires_at")
    await retention.ensure_index()
    await db.sessions.insert_many(
        [
            {"_id": "gone", "expires_at": NOW - timedelta(seconds=1)},
            {"_id": "due", "expires_at": NOW},
            {"_id": "kept", "expires_at": NOW + timedelta(seconds=1)},
        ]
    )
    assert await retention.sweep(NOW) == 2
    assert [d["_id"] async for d in db.sessions.find({})] == ["kept"]


async def test_a_sweep_deletes_everything_expired_batch_after_batch(db: Any) -> None:
    retention = Retention(db.audit, "expires_at")
    expired = [{"_id": f"a{i}", "expires_at": NOW} for i in range(SWEEP_BATCH * 2 + 7)]
    await db.audit.insert_many([*expired, {"_id": "kept", "expires_at": NOW + timedelta(1)}])
    assert await retention.sweep(NOW) == len(expired)
    assert [d["_id"] async for d in db.audit.find({})] == ["kept"]


async def test_a_sweep_with_a_retention_period_keeps_documents_younger_than_it(db: Any) -> None:
    retention = Retention(db.logins, "created_at", timedelta(days=1))
    await db.logins.insert_many(
        [
            {"_id": "old", "created_at": NOW - timedelta(days=1, seconds=1)},
            {"_id": "young", "created_at": NOW - timedelta(hours=23)},
        ]
    )
    assert await retention.sweep(NOW) == 1
    assert [d["_id"] async for d in db.logins.find({})] == ["young"]
