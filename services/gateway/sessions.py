"""Browser sessions: a random token in an HttpOnly cookie, the state server-side.

Only a SHA-256 of the token is stored, so a read of the database does not yield
usable cookies. Signing in rotates the token (no session fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.directory import DirectoryUser
from shared.mongo import Document, Retention

COOKIE = "mfa_session"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Session:
    id: str  # the digest of the cookie's token
    csrf_token: str
    expires_at: datetime
    user: DirectoryUser | None = None  # signed in: password and, if required, MFA
    mfa: bool = False  # the user's sign-in passed a code (the console requires it)
    pending: dict[str, Any] | None = None  # password passed, MFA step under way
    admin: str | None = None  # signed in to the console with an admin key: "key:<id>"
    organization_id: str | None = None  # that key's organization
    flash: dict[str, Any] | None = None  # a message for the next page, shown once

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token, presented or "")


def _to_document(session: Session) -> Document:
    user = session.user
    return {
        "_id": session.id,
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at,
        "user": None if user is None else vars(user),
        "mfa": session.mfa,
        "pending": session.pending,
        "admin": session.admin,
        "organization_id": session.organization_id,
        "flash": session.flash,
    }


def _from_document(doc: Document) -> Session | None:
    user = doc.get("user")
    if "organization_id" not in doc or (user and "organization_id" not in user):
        return None  # from before organizations: sign in again
    return Session(
        id=doc["_id"],
        csrf_token=doc["csrf_token"],
        expires_at=doc["expires_at"],
        user=DirectoryUser(**user) if user else None,
        mfa=doc.get("mfa", False),
        pending=doc.get("pending"),
        admin=doc.get("admin"),
        organization_id=doc.get("organization_id"),
        flash=doc.get("flash"),
    )


class SessionStore:
    def __init__(self, db: AsyncDatabase[Document], ttl: timedelta) -> None:
        self._sessions = db["sessions"]
        self.ttl = ttl
        self.retention = Retention(self._sessions, "expires_at")

    async def ensure_indexes(self) -> None:
        await self.retention.ensure_index()

    async def load(self, token: str | None, now: datetime) -> Session | None:
        if not token:
            return None
        doc = await self._sessions.find_one({"_id": _digest(token)})
        if doc is None or doc["expires_at"] <= now:
            return None
        return _from_document(doc)

    def create(self, now: datetime) -> tuple[str, Session]:
        """A new session (saved with the response) and the token for its cookie, which
        exists nowhere else."""
        token = secrets.token_urlsafe(32)
        session = Session(
            id=_digest(token), csrf_token=secrets.token_urlsafe(32), expires_at=now + self.ttl
        )
        return token, session

    async def save(self, session: Session) -> None:
        await self._sessions.replace_one({"_id": session.id}, _to_document(session), upsert=True)

    async def rotate(self, old: Session, now: datetime) -> tuple[str, Session]:
        token, fresh = self.create(now)
        await self.delete(old)
        return token, fresh

    async def delete(self, session: Session) -> None:
        await self._sessions.delete_one({"_id": session.id})
