"""The demo sign-in's user directory, kept in the gateway's own database.

Passwords are hashed with argon2id, in a worker thread: a hash takes about 190 ms
of CPU, and the event loop serves every other request and event meanwhile. An
unknown e-mail still costs one hash verification, so response times do not tell
which e-mails exist.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.database import AsyncDatabase

from shared.identity import UserRef, fold
from shared.mongo import Document

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """What an unknown e-mail is checked against, made at first need (not at import)."""
    return _hasher.hash("no such user: spend the same time")


def _verifies(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class DirectoryUser:
    organization_id: str
    user_id: str  # canonical
    email: str
    user_type: str

    @property
    def user(self) -> UserRef:
        return UserRef(self.organization_id, self.user_id)


@dataclass(frozen=True)
class DemoUser:
    user_id: str
    email: str
    user_type: str
    password: str


# Seeded by `make run` (never in production): one user per kind of journey.
DEMO_USERS = (
    DemoUser("ada", "ada@imageshop.example", "editor", "ada-demo-password"),
    DemoUser("grace", "grace@imageshop.example", "viewer", "grace-demo-password"),
    DemoUser("alan", "alan@imageshop.example", "admin", "alan-demo-password"),
)


def _user(doc: Document) -> DirectoryUser:
    return DirectoryUser(doc["organization_id"], doc["user_id"], doc["email"], doc["user_type"])


class UserDirectory:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._users = db["users"]

    async def ensure_indexes(self) -> None:
        await self._users.create_index("email", unique=True)

    async def put(self, user: DirectoryUser, password: str) -> None:
        await self._users.replace_one(
            {"organization_id": user.organization_id, "user_id": user.user_id},
            {
                "organization_id": user.organization_id,
                "user_id": user.user_id,
                "email": fold(user.email),
                "user_type": user.user_type,
                "password_hash": await asyncio.to_thread(_hasher.hash, password),
            },
            upsert=True,
        )

    async def authenticate(self, email: str, password: str) -> DirectoryUser | None:
        doc = await self._users.find_one({"email": fold(email)})
        stored_hash = doc["password_hash"] if doc else None
        if not await asyncio.to_thread(_verifies, stored_hash, password):
            return None
        return _user(doc) if doc else None

    async def find(self, organization_id: str, email_or_id: str) -> DirectoryUser | None:
        """One of the organization's users, by user id (any spelling) or e-mail."""
        key = fold(email_or_id)
        doc = await self._users.find_one(
            {"organization_id": organization_id, "$or": [{"user_id": key}, {"email": key}]}
        )
        return _user(doc) if doc else None

    async def user_types(self, organization_id: str) -> list[str]:
        cursor = self._users.find({"organization_id": organization_id}, {"user_type": 1})
        return sorted({doc["user_type"] async for doc in cursor})
