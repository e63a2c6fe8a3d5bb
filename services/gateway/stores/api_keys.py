"""API keys and who presents them. Each belongs to one organization and has a role:

- ``client``: start logins and submit codes for the organization's users;
- ``admin``: the organization's policy, resets, look-ups and audit;
- ``operator`` (configured, no organization): create organizations and manage their keys.

Keys set in configuration (MFA_CLIENT_API_KEYS, MFA_ADMIN_API_KEYS) belong to the
default organization, which keeps existing deployments and the development keys
working. Keys issued through the operator API (``KeyStore``) are random, shown once,
and stored as a hash with an id: a key reads ``mfa.<key id>.<secret>``. The id finds
the record; only a SHA-256 of the 256-bit secret is stored, compared in constant time.
Every replica reads a record again once it is half a second old, so a revoked key
stops working everywhere within a second, at the cost of one point read per key and
replica every half second.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import SecretStr
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import Clock
from shared.identity import DEFAULT_ORGANIZATION
from shared.mongo import Document

OrganizationRole = Literal["client", "admin"]
PREFIX = "mfa"
FRESH_FOR_SECONDS = 0.5  # how stale a replica's view of a key may be
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    organization_id: str
    role: OrganizationRole
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    record: ApiKey
    key: str  # the whole key: shown once, stored nowhere


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(doc: Document) -> ApiKey:
    return ApiKey(
        doc["_id"],
        doc["organization_id"],
        doc["role"],
        doc["name"],
        doc["created_at"],
        doc.get("last_used_at"),
        doc.get("revoked_at"),
    )


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a key in our format, else None."""
    parts = presented.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._keys = db["api_keys"]
        self._seen: dict[str, tuple[float, Document | None]] = {}  # key id -> (read at, doc)

    async def ensure_indexes(self) -> None:
        await self._keys.create_index([("organization_id", ASCENDING)])

    async def issue(
        self, organization_id: str, role: OrganizationRole, name: str, now: datetime
    ) -> IssuedKey:
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        doc = {
            "_id": key_id,
            "organization_id": organization_id,
            "role": role,
            "name": name,
            "digest": _digest(secret),
            "created_at": now,
            "last_used_at": None,
            "revoked_at": None,
        }
        await self._keys.insert_one(doc)
        return IssuedKey(_key(doc), f"{PREFIX}.{key_id}.{secret}")

    async def of(self, organization_id: str) -> list[ApiKey]:
        cursor = self._keys.find({"organization_id": organization_id}).sort("created_at", 1)
        return [_key(doc) async for doc in cursor]

    async def revoke(self, organization_id: str, key_id: str, now: datetime) -> bool:
        done = await self._keys.update_one(
            {"_id": key_id, "organization_id": organization_id, "revoked_at": None},
            {"$set": {"revoked_at": now}},
        )
        self._seen.pop(key_id, None)
        return done.matched_count == 1

    async def identify(self, presented: str, now: datetime) -> ApiKey | None:
        """The live key this is, or None (unknown, wrong secret or revoked)."""
        parts = split_key(presented)
        if parts is None:
            return None
        key_id, secret = parts
        doc = await self._record(key_id)
        if doc is None or not hmac.compare_digest(doc["digest"], _digest(secret)):
            return None
        key = _key(doc)
        if key.revoked_at is not None:
            return None
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
            await self._keys.update_one({"_id": key_id}, {"$set": {"last_used_at": now}})
            self._seen.pop(key_id, None)
        return key

    async def is_live(self, key_id: str) -> bool:
        """Whether the key exists and is not revoked (as fresh as ``identify``)."""
        doc = await self._record(key_id)
        return doc is not None and doc.get("revoked_at") is None

    async def _record(self, key_id: str) -> Document | None:
        seen = self._seen.get(key_id)
        if seen is not None and time.monotonic() - seen[0] < FRESH_FOR_SECONDS:
            return seen[1]
        doc = await self._keys.find_one({"_id": key_id})
        if len(self._seen) > 10_000:  # unknown ids cost a read, never memory
            self._seen.clear()
        self._seen[key_id] = (time.monotonic(), doc)
        return doc


Role = Literal["client", "admin", "operator"]


@dataclass(frozen=True)
class Caller:
    role: Role
    organization_id: str  # empty for operators, who belong to none
    key_id: str  # names the key in stores, audit and logs without revealing it

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


def _raw_digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _configured_id(digest: bytes) -> str:
    return f"config-{digest.hex()[:12]}"


class ConfiguredKeys:
    def __init__(self, keys: Iterable[tuple[SecretStr, Role]]) -> None:
        self._keys = [(_raw_digest(k.get_secret_value()), role) for k, role in keys]
        self.ids = frozenset(_configured_id(digest) for digest, _ in self._keys)

    def identify(self, presented: str) -> Caller | None:
        presented_digest = _raw_digest(presented)
        found: Caller | None = None
        for digest, role in self._keys:  # compare with every key: timing names none
            if hmac.compare_digest(digest, presented_digest):
                organization = "" if role == "operator" else DEFAULT_ORGANIZATION
                found = Caller(role, organization, _configured_id(digest))
        return found


@dataclass(frozen=True)
class ApiKeys:
    configured: ConfiguredKeys
    issued: KeyStore
    clock: Clock

    async def identify(self, presented: str) -> Caller | None:
        caller = self.configured.identify(presented)
        if caller is not None:
            return caller
        key = await self.issued.identify(presented, self.clock.now())
        return None if key is None else Caller(key.role, key.organization_id, key.key_id)

    async def still_valid(self, key_id: str) -> bool:
        """Whether a key that was presented earlier (a console session's) still works."""
        return key_id in self.configured.ids or await self.issued.is_live(key_id)
