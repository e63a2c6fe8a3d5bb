"""Read models the gateway keeps from events, so admin reads never touch another
service's database: the current policy and each user's authenticator status."""

from __future__ import annotations

import contextlib
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.events import PolicyApplied, PolicyRules
from shared.mongo import Document

_CURRENT = "current"


class PolicyView:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._policy = db["policy_view"]

    async def current(self) -> Document:
        doc = await self._policy.find_one({"_id": _CURRENT})
        if doc is None:
            return {**PolicyRules().model_dump(), "version": 0, "updated_at": None}
        doc.pop("_id")
        return doc

    async def apply(self, event: PolicyApplied) -> None:
        with contextlib.suppress(DuplicateKeyError):  # a late older version must not win
            await self._policy.update_one(
                {"_id": _CURRENT, "version": {"$lt": event.version}},
                {
                    "$set": {
                        **event.policy.model_dump(),
                        "version": event.version,
                        "updated_at": event.updated_at,
                    }
                },
                upsert=True,
            )


class AuthenticatorView:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._authenticators = db["authenticator_view"]

    async def get(self, user_id: str) -> Document | None:
        return await self._authenticators.find_one({"_id": user_id})

    async def issued(
        self, user_id: str, credential_id: str, created_at: datetime, confirmed_at: datetime | None
    ) -> None:
        fields = {
            "credential_id": credential_id,
            "created_at": created_at,
            "confirmed_at": confirmed_at,
        }
        if confirmed_at is not None:
            await self._authenticators.update_one({"_id": user_id}, {"$set": fields}, upsert=True)
            return
        # A pending credential replaces another credential, never itself.
        with contextlib.suppress(DuplicateKeyError):
            await self._authenticators.update_one(
                {"_id": user_id, "credential_id": {"$ne": credential_id}},
                {"$set": fields, "$setOnInsert": {"locked_until": None}},
                upsert=True,
            )

    async def code_verified(
        self, user_id: str, credential_id: str, at: datetime, confirms: bool
    ) -> None:
        """A success ends any lock; an enrollment code also confirms the credential."""
        if confirms:
            await self._authenticators.update_one(
                {"_id": user_id, "credential_id": credential_id},
                {"$set": {"confirmed_at": at, "locked_until": None}},
            )
        else:
            await self.lock_changed(user_id, None)

    async def lock_changed(self, user_id: str, locked_until: datetime | None) -> None:
        await self._authenticators.update_one(
            {"_id": user_id}, {"$set": {"locked_until": locked_until}}
        )

    async def forget(self, user_id: str) -> None:
        await self._authenticators.delete_one({"_id": user_id})
