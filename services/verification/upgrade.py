"""Data from before organizations: each user's authenticator becomes the default
organization's user's, its secret sealed again under the new associated data.

Runs once per database at start (``shared.mongo.run_once``, marker ``organizations``).
Remove when every deployment has started a version with organizations at least once
(each service database then holds that marker in ``migrations``): delete this module and
its call in ``app.py``; ``shared/upgrade.py`` and the schema-version-1 reading of
``shared.events.OrganizationEvent`` go when no service needs them.
"""

from __future__ import annotations

from functools import partial

from pymongo.asynchronous.database import AsyncDatabase

from shared.crypto import SecretBox
from shared.mongo import Document, run_once
from shared.upgrade import move_sealed_documents


async def bring_into_organizations(database: AsyncDatabase[Document], box: SecretBox) -> None:
    move = partial(move_sealed_documents, database["authenticators"], box)
    await run_once(database, "organizations", move)
