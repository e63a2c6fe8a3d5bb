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
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._organizations = db["organizations"]

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
        doc = await self._organizations.find_one({"_id": organization_id})
        return None if doc is None else _organization(doc)

    async def all(self) -> list[Organization]:
        return [_organization(d) async for d in self._organizations.find({}).sort("_id", 1)]
