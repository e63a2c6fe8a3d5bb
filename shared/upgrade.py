"""Data written before organizations existed, brought into the default organization.

Each service runs its own part once at start, from its ``upgrade.py``, through
``shared.mongo.run_once`` (marker ``organizations``): its
per-user documents get the default organization, a canonical user id and the new
document id, and sealed secrets are sealed again under the new associated data. An id
that is not a valid user id any more (``a/b?c``) is left where it is: no login can
name it now. Two old ids that fold to one user (``VIP-User``, ``vip-user``) keep the
first one moved.

Remove when every deployment has started a version with organizations at least once
(each service's database then holds the ``organizations`` marker in ``migrations``, and
the gateway's also ``organizations-directory``): delete this module, each service's
``upgrade.py`` and its call in ``app.py``, the schema-version-1 reading of
``shared.events.OrganizationEvent``, and the session store's refusal of sessions from
before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.crypto import Sealed, SecretBox, credential_context
from shared.identity import DEFAULT_ORGANIZATION, InvalidId, UserRef, canonical_user_id
from shared.mongo import Document, run_once


def user_from_before(old_user_id: str) -> UserRef | None:
    try:
        return UserRef(DEFAULT_ORGANIZATION, canonical_user_id(old_user_id))
    except InvalidId:
        return None


def reseal_secret(
    box: SecretBox, sealed: Sealed, old_user_id: str, user: UserRef, credential_id: str
) -> Sealed:
    """Open under the old associated data (user id alone), seal under the new one."""
    secret = box.open(sealed, f"credential:{old_user_id}:{credential_id}")
    return box.seal(secret, credential_context(user, credential_id))


async def move_user_documents(
    collection: AsyncCollection[Document],
    change: Callable[[Document, str, UserRef], Document] | None = None,
) -> int:
    """Give per-user documents keyed by the old user id the key of the same user in the
    default organization (``change`` adjusts each one). Returns how many moved."""
    moved = 0
    async for doc in collection.find({"organization_id": {"$exists": False}}):
        user = user_from_before(doc["_id"])
        if user is None:
            continue
        fresh = {**doc, "_id": user.key}
        fresh.update(organization_id=user.organization_id, user_id=user.user_id)
        with contextlib.suppress(DuplicateKeyError):  # another spelling moved first
            await collection.insert_one(change(fresh, doc["_id"], user) if change else fresh)
        await collection.delete_one({"_id": doc["_id"]})
        moved += 1
    return moved


async def move_sealed_documents(collection: AsyncCollection[Document], box: SecretBox) -> int:
    """The same, for documents holding the ``secret`` of credential ``credential_id``."""

    def reseal(fresh: Document, old_user_id: str, user: UserRef) -> Document:
        sealed = Sealed.model_validate(fresh["secret"])
        secret = reseal_secret(box, sealed, old_user_id, user, fresh["credential_id"])
        return {**fresh, "secret": secret.model_dump()}

    return await move_user_documents(collection, reseal)


async def bring_sealed_into_organizations(
    database: AsyncDatabase[Document], collection: str, box: SecretBox
) -> None:
    """Move a collection of per-user sealed secrets, once per database."""
    move = partial(move_sealed_documents, database[collection], box)
    await run_once(database, "organizations", move)
