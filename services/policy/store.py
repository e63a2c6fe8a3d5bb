"""The policy service's database: each organization's current policy and its history."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.policy.domain import PolicySnapshot, listing_key, user_keys
from shared.events import PolicyRules
from shared.identity import DEFAULT_ORGANIZATION, UserRef
from shared.mongo import Document

_BEFORE_ORGANIZATIONS = "current"  # the one policy's _id before there were organizations


@dataclass(frozen=True)
class StoredPolicy:
    rules: PolicyRules
    version: int
    updated_at: datetime


def policy_fields(rules: PolicyRules, now: datetime, requested_by: str) -> Document:
    return {
        "all_users": rules.all_users,
        "user_types": list(rules.user_types),
        "users": list(rules.users),
        "updated_at": now,
        "updated_by": requested_by,
    }


def listing_keys(rules: PolicyRules) -> list[str]:
    """The listed users as compared: folded, so a policy lookup is one $in."""
    return sorted({listing_key(u) for u in rules.users})


def _version_id(organization_id: str, version: int) -> str:
    return f"{organization_id}/{version:010d}"


class PolicyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._policies = db["policies"]  # _id: organization id
        self._versions = db["policy_versions"]  # every version ever applied

    async def snapshot_for(self, user: UserRef, email: str) -> PolicySnapshot:
        # The user list can be long: fetch the small fields, then ask the
        # server whether this user is listed instead of reading the list.
        doc = await self._policies.find_one(
            {"_id": user.organization_id},
            projection={"all_users": 1, "user_types": 1, "version": 1},
        )
        if doc is None:
            return PolicySnapshot(False, frozenset(), lists_user=False, version=0)
        listed = await self._policies.find_one(
            {"_id": user.organization_id, "user_keys": {"$in": user_keys(user.user_id, email)}},
            projection={"_id": 1},
        )
        return PolicySnapshot(
            all_users=doc["all_users"],
            user_types=frozenset(doc["user_types"]),
            lists_user=listed is not None,
            version=doc["version"],
        )

    async def replace(
        self, organization_id: str, rules: PolicyRules, now: datetime, requested_by: str
    ) -> StoredPolicy:
        fields = policy_fields(rules, now, requested_by)
        doc = await self._policies.find_one_and_update(
            {"_id": organization_id},
            {
                "$set": {**fields, "user_keys": listing_keys(rules)},
                "$inc": {"version": 1},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None  # noqa: S101 - an upsert returning the new document
        version = doc["version"]
        await self._versions.insert_one(
            {"_id": _version_id(organization_id, version), "version": version, **fields}
        )
        return StoredPolicy(rules=rules, version=version, updated_at=doc["updated_at"])

    async def ensure_indexes(self) -> None:
        """Documents keyed by organization and version: nothing more to index."""

    async def move_into_organizations(self) -> int:
        """The one policy from before organizations becomes the default organization's."""
        old = await self._policies.find_one({"_id": _BEFORE_ORGANIZATIONS})
        if old is None:
            return 0
        old["_id"] = DEFAULT_ORGANIZATION
        old["user_keys"] = sorted({listing_key(u) for u in old.get("users", [])})
        with contextlib.suppress(DuplicateKeyError):  # moved before, the old one left behind
            await self._policies.insert_one(old)
        await self._policies.delete_one({"_id": _BEFORE_ORGANIZATIONS})
        return 1
