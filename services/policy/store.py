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
    # Fields added since a policy was saved take their defaults.
    rules = PolicyRules.model_validate({k: doc[k] for k in PolicyRules.model_fields if k in doc})
    return StoredPolicy(
        rules,
        doc["version"],
        doc.get("updated_at"),
        doc.get("recent_events", {}),
        doc.get("requested_at"),
    )


def policy_fields(rules: PolicyRules, now: datetime, requested_by: str) -> Document:
    return {**rules.model_dump(), "updated_at": now, "updated_by": requested_by}


def listing_keys(users: tuple[str, ...]) -> list[str]:
    """The listed users as compared: folded, so a policy lookup is one $in."""
    return sorted({listing_key(u) for u in users})


# What a decision reads: every rule but the (long) user lists, and the list sizes.
SNAPSHOT_FIELDS = (
    *(f for f in PolicyRules.model_fields if f not in ("users", "require_passkey_users")),
    "version",
    "listed_count",
    "passkey_listed_count",
)


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
            {"_id": user.organization_id}, projection=dict.fromkeys(SNAPSHOT_FIELDS, 1)
        )
        return await self._snapshot(doc, user, email)

    async def snapshots_for(self, people: list[tuple[UserRef, str]]) -> list[PolicySnapshot]:
        """``snapshot_for`` of each (user, e-mail) of a batch: the organizations'
        policies in one ``_id $in`` read (a listed-user query only where one lists)."""
        ids = sorted({user.organization_id for user, _ in people})
        found = self._policies.find(
            {"_id": {"$in": ids}}, projection=dict.fromkeys(SNAPSHOT_FIELDS, 1)
        )
        docs = {doc["_id"]: doc async for doc in found}
        return [await self._snapshot(docs.get(u.organization_id), u, e) for u, e in people]

    async def _snapshot(self, doc: Document | None, user: UserRef, email: str) -> PolicySnapshot:
        if doc is None:
            return PolicySnapshot(False, frozenset(), lists_user=False, version=0)
        keys = user_keys(user.user_id, email)
        # Unknown counts (policies saved before they were kept) are looked up.
        listed = doc.get("listed_count", 1) > 0 and await self._lists(user, "user_keys", keys)
        passkey_listed = doc.get("passkey_listed_count", 0) > 0 and await self._lists(
            user, "passkey_user_keys", keys
        )
        rules = PolicyRules.model_validate(
            {k: doc[k] for k in PolicyRules.model_fields if k in doc}
        )
        return PolicySnapshot(
            all_users=rules.all_users,
            user_types=frozenset(rules.user_types),
            lists_user=listed,
            version=doc["version"],
            rules=rules,
            lists_user_for_passkey=passkey_listed,
        )

    async def _lists(self, user: UserRef, field: str, keys: list[str]) -> bool:
        found = await self._policies.find_one(
            {"_id": user.organization_id, field: {"$in": keys}}, projection={"_id": 1}
        )
        return found is not None

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
        keys = listing_keys(rules.users)
        passkey_keys = listing_keys(rules.require_passkey_users)
        doc = {**fields, "version": version, "user_keys": keys, "listed_count": len(keys)}
        doc.update(passkey_user_keys=passkey_keys, passkey_listed_count=len(passkey_keys))
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
