"""The demo sign-in's user directory, kept in the gateway's own database.

Passwords are hashed with argon2id. An unknown e-mail still costs one hash
verification, so response times do not tell which e-mails exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("no such user: spend the same time")


@dataclass(frozen=True)
class DirectoryUser:
    user_id: str
    email: str
    user_type: str


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
    return DirectoryUser(user_id=doc["_id"], email=doc["email"], user_type=doc["user_type"])


class UserDirectory:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._users = db["users"]

    async def ensure_indexes(self) -> None:
        await self._users.create_index("email", unique=True)

    async def put(self, user_id: str, email: str, user_type: str, password: str) -> None:
        await self._users.replace_one(
            {"_id": user_id},
            {
                "email": email.casefold(),
                "user_type": user_type,
                "password_hash": _hasher.hash(password),
            },
            upsert=True,
        )

    async def authenticate(self, email: str, password: str) -> DirectoryUser | None:
        doc = await self._users.find_one({"email": email.strip().casefold()})
        try:
            _hasher.verify(doc["password_hash"] if doc else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return _user(doc) if doc else None

    async def find(self, email_or_id: str) -> DirectoryUser | None:
        key = email_or_id.strip()
        doc = await self._users.find_one({"$or": [{"_id": key}, {"email": key.casefold()}]})
        return _user(doc) if doc else None

    async def user_types(self) -> list[str]:
        return sorted(
            {doc["user_type"] async for doc in self._users.find({}, projection={"user_type": 1})}
        )
