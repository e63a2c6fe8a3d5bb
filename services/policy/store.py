"""The policy service's database: each organization's current policy and its history."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.policy.domain import PolicySnapshot, listing_key, user_keys
from shared.events import PolicyRules
from shared.identity import UserRef
from shared.mongo import Document


@dataclass(frozen=True)
class StoredPolicy:
    rules: PolicyRules
    version: int
    updated_at: datetime | None
    recent_events: Mapping[str, int] = field(default_factory=dict)  # update event -> version
    requested_at: datetime | None = None  # when the update that made it was requested


NO_POLICY = StoredPolicy(PolicyRules(), version=0, updated_at=None)


def _stored(doc: Document) -> StoredPolicy:
    rules = PolicyRules(
        all_users=doc["all_users"],
        user_types=tuple(doc["user_types"]),
        users=tuple(doc["users"]),
        remember_device_days=doc.get("remember_device_days", 0),
    )
    return StoredPolicy(
        rules,
        doc["version"],
        doc.get("updated_at"),
        doc.get("recent_events", {}),
        doc.get("requested_at"),
    )


def policy_fields(rules: PolicyRules, now: datetime, requested_by: str) -> Document:
    return {
        "all_users": rules.all_users,
        "user_types": list(rules.user_types),
        "users": list(rules.users),
        "remember_device_days": rules.remember_device_days,
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
        # The user list can be long: fetch the small fields, then, if the policy lists
        # anyone, ask the server whether this user is listed instead of reading the list.
        doc = await self._policies.find_one(
            {"_id": user.organization_id},
            projection={"all_users": 1, "user_types": 1, "version": 1, "listed_count": 1},
        )
        if doc is None:
            return PolicySnapshot(False, frozenset(), lists_user=False, version=0)
        listed = None
        if doc.get("listed_count", 1) > 0:  # unknown in policies saved before it was kept
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

    async def current(self, organization_id: str) -> StoredPolicy:
        doc = await self._policies.find_one({"_id": organization_id})
        return NO_POLICY if doc is None else _stored(doc)

    async def at_version(self, organization_id: str, version: int) -> StoredPolicy | None:
        doc = await self._versions.find_one({"_id": _version_id(organization_id, version)})
        return None if doc is None else _stored(doc)

    async def save(
        self,
        organization_id: str,
        over: StoredPolicy,
        rules: PolicyRules,
        recent_events: Mapping[str, int],
        now: datetime,
        requested_by: str,
        requested_at: datetime,
    ) -> StoredPolicy | None:
        """Write ``rules`` as the next version, with the updates it recognises, if the
        policy is still ``over`` (compare-and-set on its version); None if it moved."""
        version = over.version + 1
        fields = policy_fields(rules, now, requested_by)
        keys = listing_keys(rules)
        doc = {**fields, "version": version, "user_keys": keys, "listed_count": len(keys)}
        doc["recent_events"] = dict(recent_events)
        doc["requested_at"] = requested_at
        try:
            if over.version == 0:
                await self._policies.insert_one({"_id": organization_id, **doc})
            else:
                done = await self._policies.update_one(
                    {"_id": organization_id, "version": over.version}, {"$set": doc}
                )
                if done.modified_count != 1:
                    return None
        except DuplicateKeyError:  # another replica wrote the first version meanwhile
            return None
        with contextlib.suppress(DuplicateKeyError):  # recorded by an earlier attempt
            await self._versions.insert_one(
                {"_id": _version_id(organization_id, version), "version": version, **fields}
            )
        return StoredPolicy(rules, version, now, recent_events, requested_at)

    async def ensure_indexes(self) -> None:
        """Documents keyed by organization and version: nothing more to index."""
