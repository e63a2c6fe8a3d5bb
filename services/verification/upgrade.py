"""Data from before organizations: each user's authenticator becomes the default
organization's user's, its secret sealed again under the new associated data, once.
When this goes: ``shared/upgrade.py``."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from shared.crypto import SecretBox
from shared.mongo import Document
from shared.upgrade import bring_sealed_into_organizations


async def bring_into_organizations(database: AsyncDatabase[Document], box: SecretBox) -> None:
    await bring_sealed_into_organizations(database, "authenticators", box)
