"""Browser sessions: a random token in an HttpOnly cookie, the state server-side.

Only a SHA-256 of the token is stored, so a read of the database does not yield
usable cookies. Signing in, and passing the MFA step, rotate the token (no session
fixation). A browser that has not signed in has a token but no document: its CSRF
token is an HMAC of the session id, so anonymous pages cost no write. A session is
written only when its state changed, and only inserted once: an update never
recreates a session that sign-out deleted meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.web.directory import DirectoryUser
from shared.mongo import Document, Retention

COOKIE = "mfa_session"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Session:
    id: str  # the digest of the cookie's token
    csrf_token: str  # HMAC of the id: the same for as long as the session lives
    expires_at: datetime
    user: DirectoryUser | None = None  # signed in: password and, if required, MFA
    mfa: bool = False  # the user's sign-in passed a code (the console requires it)
    mfa_login: str | None = None  # the login that passed it: new recovery codes go through it
    mfa_caller: str | None = None  # who typed that code (this browser, under its id then)
    pending: dict[str, Any] | None = None  # password passed, MFA step under way
    admin: str | None = None  # signed in to the console with an admin key: "key:<id>"
    organization_id: str | None = None  # that key's organization
    flash: dict[str, Any] | None = None  # a message for the next page, shown once
    stored: Document | None = field(default=None, repr=False)  # as last read or written

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(
            self.csrf_token.encode(), (presented or "").encode()
        )

    @property
    def caller(self) -> str:
        """Who this browser is to the login flow (a code's sender, a rate-limit key)."""
        return f"web:{self.id}"

    @property
    def has_state(self) -> bool:
        return any((self.user, self.pending, self.admin, self.flash))


def _to_document(session: Session) -> Document:
    user = session.user
    return {
        "_id": session.id,
        "expires_at": session.expires_at,
        "user": None if user is None else vars(user),
        "mfa": session.mfa,
        "mfa_login": session.mfa_login,
        "mfa_caller": session.mfa_caller,
        "pending": session.pending,
        "admin": session.admin,
        "organization_id": session.organization_id,
        "flash": session.flash,
    }


class SessionStore:
    def __init__(self, db: AsyncDatabase[Document], ttl: timedelta, csrf_key: bytes) -> None:
        self._sessions = db["sessions"]
        self.ttl = ttl
        self._csrf_key = csrf_key
        self.retention = Retention(self._sessions, "expires_at")

    async def ensure_indexes(self) -> None:
        await self.retention.ensure_index()

    def _session(self, session_id: str, expires_at: datetime) -> Session:
        csrf = hmac.new(self._csrf_key, f"csrf:{session_id}".encode(), hashlib.sha256)
        return Session(id=session_id, csrf_token=csrf.hexdigest(), expires_at=expires_at)

    async def load(self, token: str | None, now: datetime) -> Session | None:
        """The cookie's session: stored, or still anonymous; None for no or a bad cookie."""
        if not token or not _TOKEN.fullmatch(token):
            return None
        doc = await self._sessions.find_one({"_id": _digest(token)})
        if doc is None:
            return self._session(_digest(token), now + self.ttl)
        user = doc.get("user")
        if (
            doc["expires_at"] <= now
            or "organization_id" not in doc
            or (
                user and "organization_id" not in user  # before organizations (upgrade.py)
            )
        ):
            return None
        session = self._session(doc["_id"], doc["expires_at"])
        session.user = DirectoryUser(**user) if user else None
        session.mfa, session.pending = doc.get("mfa", False), doc.get("pending")
        session.mfa_login, session.mfa_caller = doc.get("mfa_login"), doc.get("mfa_caller")
        session.admin, session.organization_id = doc.get("admin"), doc.get("organization_id")
        session.flash, session.stored = doc.get("flash"), doc
        return session

    def create(self, now: datetime) -> tuple[str, Session]:
        """A new session and the token for its cookie, which exists nowhere else."""
        token = secrets.token_urlsafe(32)
        return token, self._session(_digest(token), now + self.ttl)

    async def save(self, session: Session) -> None:
        """Write what changed. Never an upsert: a session deleted meanwhile stays deleted."""
        doc = _to_document(session)
        if doc == session.stored:
            return
        if session.stored is None:
            if not session.has_state:
                return  # anonymous: nothing worth a document
            await self._sessions.insert_one(doc)
        else:
            await self._sessions.replace_one({"_id": session.id}, doc)
        session.stored = doc

    async def rotate(self, old: Session, now: datetime) -> tuple[str, Session]:
        token, fresh = self.create(now)
        await self.delete(old)
        return token, fresh

    async def delete(self, session: Session) -> None:
        await self._sessions.delete_one({"_id": session.id})
