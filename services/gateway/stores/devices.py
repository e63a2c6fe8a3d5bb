"""Remembered devices: a token, given after a code, that skips the code for a while.

The token goes to the device only (a client's storage, or an HttpOnly cookie); the
gateway keeps its SHA-256 (the token has 256 random bits, so a fast hash is enough)
with what it is bound to: the organization, the user and the credential the code
was checked against. A new authenticator (after a reset) therefore voids every
token at once, and a reset also deletes them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from shared.identity import UserRef
from shared.mongo import Document, Retention

TOKEN_PREFIX = "rd_"  # noqa: S105 - a prefix that names the kind of token, not a secret


@dataclass(frozen=True)
class IssuedDevice:
    token: str  # shown to the device once, stored nowhere
    expires_at: datetime


def still_remembered(created_at: datetime, now: datetime, days_allowed: int) -> bool:
    """A token passes only while the organization's current policy still allows its
    age: turning remembering off (0 days) or shortening it applies to tokens issued
    before, not just to new ones."""
    return days_allowed > 0 and now < created_at + timedelta(days=days_allowed)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RememberedDevices:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._devices = db["remembered_devices"]  # _id: the token's digest
        self.retention = Retention(self._devices, "expires_at")

    async def ensure_indexes(self) -> None:
        await self._devices.create_index([("organization_id", 1), ("user_id", 1)])
        await self.retention.ensure_index()

    async def remember(
        self, user: UserRef, credential_id: str, now: datetime, days: int
    ) -> IssuedDevice:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = now + timedelta(days=days)
        await self._devices.insert_one(
            {
                "_id": _digest(token),
                "organization_id": user.organization_id,
                "user_id": user.user_id,
                "credential_id": credential_id,
                "created_at": now,
                "expires_at": expires_at,
            }
        )
        return IssuedDevice(token, expires_at)

    async def credential_for(
        self, token: str, user: UserRef, now: datetime, days_allowed: int
    ) -> str | None:
        """The credential a live token of this user was given for; None for any other
        token (unknown, expired, revoked, another user's, or older than the policy's
        ``days_allowed`` now allows)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        doc = await self._devices.find_one({"_id": _digest(token)})
        if doc is None or doc["expires_at"] <= now:
            return None
        if not still_remembered(doc["created_at"], now, days_allowed):
            return None
        if (doc["organization_id"], doc["user_id"]) != (user.organization_id, user.user_id):
            return None
        return str(doc["credential_id"])

    async def revoke(self, token: str, organization_id: str) -> bool:
        done = await self._devices.delete_one(
            {"_id": _digest(token), "organization_id": organization_id}
        )
        return done.deleted_count == 1

    async def revoke_all(self, user: UserRef) -> int:
        done = await self._devices.delete_many(
            {"organization_id": user.organization_id, "user_id": user.user_id}
        )
        return done.deleted_count

    async def forget_organization(self, organization_id: str) -> int:
        """Every device of the organization: its policy stopped remembering devices."""
        done = await self._devices.delete_many({"organization_id": organization_id})
        return done.deleted_count

    async def count(self, user: UserRef, now: datetime) -> int:
        return await self._devices.count_documents(
            {
                "organization_id": user.organization_id,
                "user_id": user.user_id,
                "expires_at": {"$gt": now},
            }
        )
