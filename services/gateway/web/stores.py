"""The hosted pages' own collections in the gateway's database: browser sessions and
the demo sign-in's user directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.settings import GatewaySettings
from services.gateway.web.directory import UserDirectory
from services.gateway.web.sessions import SessionStore
from shared.mongo import Document, Retention


@dataclass(frozen=True)
class WebStores:
    db: AsyncDatabase[Document]
    sessions: SessionStore
    directory: UserDirectory

    @classmethod
    def over(cls, db: AsyncDatabase[Document], settings: GatewaySettings) -> WebStores:
        sessions = SessionStore(
            db,
            timedelta(seconds=settings.session_ttl_seconds),
            settings.keyring.derive("gateway-csrf"),
        )
        return cls(db, sessions, UserDirectory(db))

    async def prepare(self) -> None:
        await self.sessions.ensure_indexes()
        await self.directory.ensure_indexes()

    @property
    def retentions(self) -> tuple[Retention, ...]:
        return (self.sessions.retention,)
