"""Read models the gateway keeps from events, so admin reads never touch another
service's database: each organization's policy (and its versions) and each user's
authenticator status."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.gateway.domain.snapshots import (
    NO_POLICY,
    AuthenticatorRecord,
    PasskeyRecord,
    PolicySnapshot,
)
from shared.events import LoginDecided, Passkey, PolicyApplied, PolicyRules
from shared.identity import InvalidId, UserRef, canonical_user_id, fold
from shared.mongo import Document


def policy_from(doc: Document) -> PolicySnapshot:
    rules = PolicyRules.model_validate({k: doc[k] for k in PolicyRules.model_fields if k in doc})
    return PolicySnapshot(rules, doc["version"], doc.get("updated_at"), doc.get("requested_by"))


def authenticator_from(doc: Document) -> AuthenticatorRecord:
    return AuthenticatorRecord(
        credential_id=doc["credential_id"],
        created_at=doc.get("created_at"),
        confirmed_at=doc.get("confirmed_at"),
        locked_until=doc.get("locked_until"),
        recovery_codes_left=doc.get("recovery_codes_left"),
        step_offset=doc.get("step_offset"),
        # Recorded before passkeys: a confirmed authenticator was an app's.
        totp=doc.get("totp", doc.get("confirmed_at") is not None),
        passkeys=tuple(
            sorted(
                (
                    PasskeyRecord(pid, p["name"], p["created_at"], p.get("last_used_at"))
                    for pid, p in (doc.get("passkeys") or {}).items()
                ),
                key=lambda p: p.created_at,
            )
        ),
    )


class PolicyView:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._policy = db["policy_view"]  # _id: organization id
        self._versions = db["policy_versions_view"]

    async def ensure_indexes(self) -> None:
        await self._versions.create_index([("organization_id", 1), ("version", DESCENDING)])

    async def current(self, organization_id: str) -> PolicySnapshot:
        doc = await self._policy.find_one({"_id": organization_id})
        return NO_POLICY if doc is None else policy_from(doc)

    async def at_version(self, organization_id: str, version: int) -> PolicySnapshot | None:
        doc = await self._versions.find_one({"_id": f"{organization_id}/{version:010d}"})
        return None if doc is None else policy_from(doc)

    async def versions(self, organization_id: str, limit: int = 50) -> list[PolicySnapshot]:
        """The latest versions first."""
        cursor = (
            self._versions.find({"organization_id": organization_id})
            .sort("version", DESCENDING)
            .limit(limit)
        )
        return [policy_from(doc) async for doc in cursor]

    async def apply(self, event: PolicyApplied) -> None:
        fields = {
            **event.policy.model_dump(),
            "version": event.version,
            "updated_at": event.updated_at,
        }
        with contextlib.suppress(DuplicateKeyError):  # a late older version must not win
            await self._policy.update_one(
                {"_id": event.organization_id, "version": {"$lt": event.version}},
                {"$set": fields},
                upsert=True,
            )
        with contextlib.suppress(DuplicateKeyError):  # a redelivery: recorded already
            await self._versions.insert_one(
                {
                    "_id": f"{event.organization_id}/{event.version:010d}",
                    "organization_id": event.organization_id,
                    "requested_by": event.requested_by,
                    **fields,
                }
            )


class AuthenticatorView:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._authenticators = db["authenticator_view"]  # _id: UserRef.key

    async def get(self, user: UserRef) -> AuthenticatorRecord | None:
        doc = await self._authenticators.find_one({"_id": user.key})
        return None if doc is None else authenticator_from(doc)

    async def locks_of(self, users: list[UserRef], now: datetime) -> dict[str, datetime]:
        """The locks that hold now among ``users``, by user key, in one request."""
        if not users:
            return {}
        found = self._authenticators.find(
            {"_id": {"$in": sorted({u.key for u in users})}, "locked_until": {"$gt": now}},
            {"locked_until": 1},
        )
        return {doc["_id"]: doc["locked_until"] async for doc in found}

    async def issued(
        self, user: UserRef, credential_id: str, created_at: datetime, confirmed_at: datetime | None
    ) -> None:
        await self.issued_many([Issued(user, credential_id, created_at, confirmed_at)])

    async def issued_many(self, batch: list[Issued]) -> None:
        """What enrollment answered each login, in one request: a confirmed credential
        as it is; a pending one replaces another credential, never itself."""
        if not batch:
            return
        # A pending offer over itself is a duplicate key: nothing to change.
        await _upsert_all(self._authenticators, [_issued_write(i) for i in batch])

    async def code_verified(
        self,
        user: UserRef,
        credential_id: str,
        at: datetime,
        confirms: bool,
        app: bool = True,
        ends_lock: bool = True,
        **facts: int | None,
    ) -> None:
        """A success ends any lock; an enrollment code (or passkey) also confirms the
        credential, and says whether it is an app's. ``facts``: what the check reported
        (step_offset, recovery_codes_left), if known."""
        known = {k: v for k, v in facts.items() if v is not None}
        confirmed = {"confirmed_at": at, "totp": app} if confirms else {}
        unlocked = {"locked_until": None} if ends_lock else {}
        await self._authenticators.update_one(
            {"_id": user.key, "credential_id": credential_id},
            {"$set": {**confirmed, **unlocked, "verified_at": at, **known}},
        )

    async def codes_verified(self, batch: list[Verified]) -> None:
        """``code_verified`` of a batch's app codes (confirming nothing), in one write."""
        if batch:
            await self._authenticators.bulk_write(
                [
                    UpdateOne(
                        {"_id": v.user.key, "credential_id": v.credential_id},
                        {"$set": {"locked_until": None, "verified_at": v.at, **v.facts}},
                    )
                    for v in batch
                ],
                ordered=False,
            )

    async def passkey_registered(self, user: UserRef, credential_id: str, passkey: Passkey) -> None:
        fields = {"name": passkey.name, "created_at": passkey.created_at, "last_used_at": None}
        with contextlib.suppress(DuplicateKeyError):  # another credential is held now
            await self._authenticators.update_one(
                {"_id": user.key, "credential_id": credential_id},
                {
                    "$set": {f"passkeys.{passkey.id}": fields},
                    "$setOnInsert": {
                        "organization_id": user.organization_id,
                        "user_id": user.user_id,
                        "created_at": passkey.created_at,
                        "confirmed_at": None,
                        "locked_until": None,
                    },
                },
                upsert=True,
            )

    async def imported(
        self, user: UserRef, credential_id: str, at: datetime, confirmed: bool = True
    ) -> None:
        """An import made this the user's authenticator: an app's (or token's) secret,
        confirmed (or to be, by its first code), nothing of the one before."""
        fields = {
            "organization_id": user.organization_id,
            "user_id": user.user_id,
            "credential_id": credential_id,
            "created_at": at,
            "confirmed_at": at if confirmed else None,
            "totp": confirmed,
            "passkeys": {},
            "recovery_codes_left": None,
            "step_offset": None,
        }
        # Never over itself: an answer delivered again after the user's first code would
        # otherwise make a confirmed authenticator "awaiting first use" again.
        with contextlib.suppress(DuplicateKeyError):
            await self._authenticators.update_one(
                {"_id": user.key, "credential_id": {"$ne": credential_id}},
                {"$set": fields, "$setOnInsert": {"locked_until": None}},
                upsert=True,
            )

    async def passkey_used(self, user: UserRef, passkey_id: str, at: datetime) -> None:
        await self._authenticators.update_one(
            {"_id": user.key, f"passkeys.{passkey_id}": {"$exists": True}},
            {"$set": {f"passkeys.{passkey_id}.last_used_at": at}},
        )

    async def claim_removal(
        self, user: UserRef, claim: str, now: datetime, until: datetime
    ) -> bool:
        """One removal of a user's passkeys at a time, whichever gateway replica runs it:
        the rule "never the last authenticator" is then judged on a list that no other
        removal is changing. A claim left by a crash lapses at ``until``."""
        done = await self._authenticators.update_one(
            {
                "_id": user.key,
                "$or": [
                    {"removal_until": {"$exists": False}},
                    {"removal_until": None},
                    {"removal_until": {"$lte": now}},
                ],
            },
            {"$set": {"removal": claim, "removal_until": until}},
        )
        return done.modified_count == 1

    async def release_removal(self, user: UserRef, claim: str) -> None:
        await self._authenticators.update_one(
            {"_id": user.key, "removal": claim}, {"$set": {"removal": None, "removal_until": None}}
        )

    async def passkeys_removed(self, user: UserRef, passkey_ids: tuple[str, ...]) -> None:
        await self._authenticators.update_one(
            {"_id": user.key},
            {"$unset": {f"passkeys.{passkey_id}": "" for passkey_id in passkey_ids}},
        )

    async def recovery_codes_issued(self, user: UserRef, credential_id: str, left: int) -> None:
        await self._authenticators.update_one(
            {"_id": user.key, "credential_id": credential_id},
            {"$set": {"recovery_codes_left": left}},
        )

    async def many(self, users: list[str]) -> dict[str, AuthenticatorRecord]:
        """By user key (one ``_id $in`` read)."""
        found = self._authenticators.find({"_id": {"$in": users}})
        return {d["_id"]: authenticator_from(d) async for d in found}

    async def lock_changed(self, user: UserRef, locked_until: datetime | None) -> None:
        await self._authenticators.update_one(
            {"_id": user.key}, {"$set": {"locked_until": locked_until}}
        )

    async def forget(self, user: UserRef) -> None:
        await self._authenticators.delete_one({"_id": user.key})


def literal_pattern(text: str) -> str:
    """A regular expression matching ``text`` as typed, in the syntax both servers read
    (MongoDB's PCRE, FerretDB's Go RE2): every other character as ``\\x{hex}``, since
    ``re.escape``'s ``\\ `` is an error in RE2."""
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


@dataclass(frozen=True)
class Issued:
    """One answer of enrollment's, as the authenticator view keeps it."""

    user: UserRef
    credential_id: str
    created_at: datetime
    confirmed_at: datetime | None


@dataclass(frozen=True)
class Verified:
    """One app code accepted, as the authenticator view keeps it (``facts``: the step
    offset and recovery codes left the check reported, where known)."""

    user: UserRef
    credential_id: str
    at: datetime
    facts: dict[str, int]


def _issued_write(issued: Issued) -> Upsert:
    user = issued.user
    fields = {
        "organization_id": user.organization_id,
        "user_id": user.user_id,
        "credential_id": issued.credential_id,
        "created_at": issued.created_at,
        "confirmed_at": issued.confirmed_at,
    }
    if issued.confirmed_at is not None:
        return {"_id": user.key}, {"$set": fields}
    return (
        {"_id": user.key, "credential_id": {"$ne": issued.credential_id}},
        {"$set": {**fields, "totp": False, "passkeys": {}}, "$setOnInsert": {"locked_until": None}},
    )


class UserView:
    """The users MFA has seen, per organization: their latest decision, for coverage."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._users = db["users_view"]  # _id: UserRef.key

    async def ensure_indexes(self) -> None:
        await self._users.create_index([("organization_id", 1), ("user_id", 1)])

    async def decided(self, event: LoginDecided) -> None:
        await self.decided_many([event])

    async def decided_many(self, events: list[LoginDecided]) -> None:
        """Record each user as of their decision, unless a later one is recorded
        already; a batch's in one request."""
        if not events:
            return
        # A user whose later decision is recorded is a duplicate key: kept as it is.
        await _upsert_all(self._users, [_decided_write(e) for e in events])

    async def imported(
        self, organization_id: str, people: list[tuple[str, str]], at: datetime
    ) -> None:
        """Users an import names (user id, the file's e-mail or ""), listed in coverage
        before their first sign-in; a user seen already keeps what their sign-in said."""
        if not people:
            return
        await _upsert_all(  # a user seen already keeps their record
            self._users,
            [
                (
                    {"_id": UserRef(organization_id, user_id).key},
                    {
                        "$setOnInsert": {
                            "organization_id": organization_id,
                            "user_id": user_id,
                            "email": email,
                            "mfa_required": False,  # no sign-in has been decided yet
                            "decided_at": at,
                        }
                    },
                )
                for user_id, email in people
            ],
        )

    async def email_of(self, user: UserRef) -> str | None:
        doc = await self._users.find_one({"_id": user.key}, projection={"email": 1})
        return (doc["email"] or None) if doc else None

    async def named(self, organization_id: str, names: set[str]) -> dict[str, str]:
        """The user id each name is (as a user id, or as an e-mail in any case), among
        the users MFA has seen; names matching nobody, or several, are left out."""
        folded = {fold(n): n for n in names}
        found = self._users.find(
            {
                "organization_id": organization_id,
                "$or": [
                    {"user_id": {"$in": [canonical for n in names if (canonical := _id(n))]}},
                    {"email": {"$in": sorted(names | {n.lower() for n in names})}},
                ],
            },
            projection={"user_id": 1, "email": 1},
        )
        matches: dict[str, set[str]] = {}
        async for doc in found:
            for key in (doc["user_id"], fold(doc["email"])):
                if (name := folded.get(fold(key))) is not None:
                    matches.setdefault(name, set()).add(doc["user_id"])
        return {name: ids.pop() for name, ids in matches.items() if len(ids) == 1}

    async def seen_as(self, user: UserRef) -> tuple[str, str] | None:
        """The user's type and e-mail as their latest sign-in named them."""
        doc = await self._users.find_one({"_id": user.key}, projection={"email": 1, "user_type": 1})
        return (doc.get("user_type") or "", doc["email"]) if doc else None

    async def page(
        self, organization_id: str, search: str, after: str, limit: int
    ) -> list[Document]:
        """Up to ``limit`` users by user id after ``after``, whose id or e-mail contains
        ``search`` (any case)."""
        query: Document = {"organization_id": organization_id}
        if after:
            query["user_id"] = {"$gt": after}
        if search:
            pattern = {"$regex": literal_pattern(search), "$options": "i"}
            query["$or"] = [{"user_id": pattern}, {"email": pattern}]
        cursor = self._users.find(query).sort("user_id", ASCENDING).limit(limit)
        return [doc async for doc in cursor]


def _id(name: str) -> str:
    try:
        return canonical_user_id(name)
    except InvalidId:
        return ""


def _decided_write(event: LoginDecided) -> Upsert:
    fields = {
        "organization_id": event.organization_id,
        "user_id": event.user_id,
        "email": event.email,
        "mfa_required": event.mfa_required,
        "decided_at": event.occurred_at,
        **({"user_type": event.user_type} if event.user_type else {}),
    }
    return {"_id": event.user.key, "decided_at": {"$lt": event.occurred_at}}, {"$set": fields}


Upsert = tuple[Document, Document]  # a filter and an update, applied with upsert


async def _upsert_all(collection: AsyncCollection[Document], writes: list[Upsert]) -> None:
    """Conditional upserts in one request. One whose filter misses an existing document
    is a duplicate key, and means "keep the document as it is". When any is, the
    batch is written again one by one (each idempotent), each duplicate passed over:
    FerretDB 1.24 answers a bulk with a write error without its modified count, which
    PyMongo cannot read (a KeyError), so a bulk's errors cannot be told apart there."""
    if not writes:
        return
    try:
        await collection.bulk_write(
            [UpdateOne(f, u, upsert=True) for f, u in writes], ordered=False
        )
    except (BulkWriteError, KeyError):
        for condition, change in writes:
            with contextlib.suppress(DuplicateKeyError):
                await collection.update_one(condition, change, upsert=True)
