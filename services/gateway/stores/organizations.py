"""Customer organizations: the trust boundary of every user, key, policy and page.

The gateway keeps the registry (the other services learn an organization's id, and
its issuer name, from the events they receive). The default organization always
exists: it holds the data from before organizations and, in development, the demo.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.identity import DEFAULT_ORGANIZATION
from shared.mongo import Document

DEFAULT_ISSUER = "Imageshop"


@dataclass(frozen=True)
class Organization:
    organization_id: str
    name: str
    issuer: str  # what authenticator apps show above the account
    created_at: datetime


def _organization(doc: Document) -> Organization:
    return Organization(doc["_id"], doc["name"], doc["issuer"], doc["created_at"])


class OrganizationExists(Exception):
    pass


class Organizations:
    """The registry. An organization never changes once created (there is no update or
    delete), so each replica keeps those it has read: a login's start reads none. An
    update, if one is ever added, must invalidate ``_known`` on every replica."""

    KNOWN_AT_MOST = 10_000

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._organizations = db["organizations"]
        self._known: dict[str, Organization] = {}

    async def ensure_default(self, now: datetime) -> None:
        with contextlib.suppress(OrganizationExists):
            await self.create(DEFAULT_ORGANIZATION, "Default organization", DEFAULT_ISSUER, now)

    async def create(
        self, organization_id: str, name: str, issuer: str, now: datetime
    ) -> Organization:
        doc = {"_id": organization_id, "name": name, "issuer": issuer, "created_at": now}
        try:
            await self._organizations.insert_one(doc)
        except DuplicateKeyError:
            raise OrganizationExists(organization_id) from None
        return _organization(doc)

    async def get(self, organization_id: str) -> Organization | None:
        if (known := self._known.get(organization_id)) is not None:
            return known
        doc = await self._organizations.find_one({"_id": organization_id})
        if doc is None:
            return None  # not kept: it may be created the next moment
        if len(self._known) >= self.KNOWN_AT_MOST:
            self._known.clear()
        self._known[organization_id] = found = _organization(doc)
        return found

    async def all(self) -> list[Organization]:
        return [_organization(d) async for d in self._organizations.find({}).sort("_id", 1)]
