"""Key rotation for secrets at rest: seal again, under the active key, what older keys sealed.

The rotation, with no downtime:

1. configure every service with ``MFA_ENCRYPTION_KEYS=new:...,old:...`` (the first key
   seals, all open) and restart them one by one;
2. run ``python -m deploy.reseal``: each service's stored secrets sealed by another key
   are opened and sealed again under the new one;
3. once the streams hold no entry older than the rotation (a day of traffic rolls them
   over; sealed codes and secrets also travel in events), drop the old key.
"""

from __future__ import annotations

from collections.abc import Callable

from pymongo.asynchronous.collection import AsyncCollection

from shared.crypto import Sealed, SecretBox, credential_context
from shared.identity import UserRef
from shared.mongo import Document


async def reseal(
    collection: AsyncCollection[Document],
    box: SecretBox,
    field: str,
    context_of: Callable[[Document], str],
) -> int:
    """Seal the ``field`` of every document again under the active key; returns how many.

    Each write is a compare-and-set on the old nonce: a document that changed meanwhile
    (a new credential, say) keeps its change and is left for the next run.
    """
    active = box.keyring.active_key_id
    resealed = 0
    cursor = collection.find({f"{field}.key_id": {"$exists": True, "$ne": active}})
    async for doc in cursor:
        sealed = Sealed.model_validate(_field(doc, field))
        context = context_of(doc)
        fresh = box.seal(box.open(sealed, context), context)
        done = await collection.update_one(
            {"_id": doc["_id"], f"{field}.nonce": sealed.nonce},
            {"$set": {field: fresh.model_dump()}},
        )
        resealed += done.modified_count
    return resealed


def stored_credential_context(doc: Document) -> str:
    """The associated data of a per-user document holding a credential's ``secret``."""
    user = UserRef(doc["organization_id"], doc["user_id"])
    return credential_context(user, doc["credential_id"])


def _field(doc: Document, dotted: str) -> object:
    value: object = doc
    for part in dotted.split("."):
        value = value[part]  # type: ignore[index]
    return value
