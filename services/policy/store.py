"""The policy service's database: one current policy document, versioned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.policy.domain import PolicySnapshot, user_keys
from shared.events import PolicyRules
from shared.mongo import Document

_CURRENT = "current"


@dataclass(frozen=True)
class StoredPolicy:
    rules: PolicyRules
    version: int
    updated_at: datetime


class PolicyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._policies = db["policies"]

    async def snapshot_for(self, user_id: str, email: str) -> PolicySnapshot:
        # The user list can be long: fetch the small fields, then ask the
        # server whether this user is listed instead of reading the list.
        doc = await self._policies.find_one(
            {"_id": _CURRENT}, projection={"all_users": 1, "user_types": 1, "version": 1}
        )
        if doc is None:
            return PolicySnapshot(False, frozenset(), lists_user=False, version=0)
        listed = await self._policies.find_one(
            {"_id": _CURRENT, "user_keys": {"$in": user_keys(user_id, email)}},
            projection={"_id": 1},
        )
        return PolicySnapshot(
            all_users=doc["all_users"],
            user_types=frozenset(doc["user_types"]),
            lists_user=listed is not None,
            version=doc["version"],
        )

    async def replace(self, rules: PolicyRules, now: datetime, requested_by: str) -> StoredPolicy:
        doc = await self._policies.find_one_and_update(
            {"_id": _CURRENT},
            {
                "$set": {
                    "all_users": rules.all_users,
                    "user_types": list(rules.user_types),
                    "users": list(rules.users),
                    "user_keys": sorted({u.casefold() for u in rules.users}),
                    "updated_at": now,
                    "updated_by": requested_by,
                },
                "$inc": {"version": 1},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None  # noqa: S101 - an upsert returning the new document
        return StoredPolicy(rules=rules, version=doc["version"], updated_at=doc["updated_at"])

    async def ensure_indexes(self) -> None:
        """One document keyed by _id: nothing to index."""
