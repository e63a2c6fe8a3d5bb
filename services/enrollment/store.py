"""The enrollment service's database: one credential per user, secret sealed."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.enrollment.domain import Credential
from shared.crypto import Sealed, SecretBox
from shared.identity import UserRef
from shared.mongo import Document
from shared.rotation import reseal, stored_credential_context


def _to_document(credential: Credential, secret: Sealed) -> Document:
    return {
        "_id": credential.user.key,
        "organization_id": credential.user.organization_id,
        "user_id": credential.user.user_id,
        "credential_id": credential.credential_id,
        "account": credential.account,
        "secret": secret.model_dump(),
        "created_at": credential.created_at,
        "offer_expires_at": credential.offer_expires_at,
        "confirmed_at": credential.confirmed_at,
    }


def _from_document(doc: Document) -> tuple[Credential, Sealed]:
    credential = Credential(
        user=UserRef(doc["organization_id"], doc["user_id"]),
        credential_id=doc["credential_id"],
        account=doc["account"],
        created_at=doc["created_at"],
        offer_expires_at=doc["offer_expires_at"],
        confirmed_at=doc.get("confirmed_at"),
    )
    return credential, Sealed.model_validate(doc["secret"])


class CredentialStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._credentials = db["credentials"]

    async def ensure_indexes(self) -> None:
        """Keyed by (organization, user) in _id: nothing more to index."""

    async def get(self, user: UserRef) -> tuple[Credential, Sealed] | None:
        doc = await self._credentials.find_one({"_id": user.key})
        return None if doc is None else _from_document(doc)

    async def put_new(
        self, credential: Credential, secret: Sealed, replacing: Credential | None
    ) -> bool:
        """Store a new credential unless another login got there first (then False)."""
        doc = _to_document(credential, secret)
        if replacing is None:
            try:
                await self._credentials.insert_one(doc)
            except DuplicateKeyError:
                return False
            return True
        result = await self._credentials.replace_one(
            {
                "_id": credential.user.key,
                "credential_id": replacing.credential_id,
                "confirmed_at": None,
            },
            doc,
        )
        return result.matched_count == 1

    async def confirm(self, user: UserRef, credential_id: str, now: datetime) -> bool:
        result = await self._credentials.update_one(
            {"_id": user.key, "credential_id": credential_id, "confirmed_at": None},
            {"$set": {"confirmed_at": now}},
        )
        return result.modified_count == 1

    async def forget(self, user: UserRef, requested_at: datetime) -> None:
        """Forget the credential the user had when the reset was requested; one made
        since (the user enrolled again before a copy of the reset arrived) stays."""
        await self._credentials.delete_one({"_id": user.key, "created_at": {"$lte": requested_at}})

    async def reseal(self, box: SecretBox) -> int:
        """Seal again under the active key the secrets another key sealed."""
        return await reseal(self._credentials, box, "secret", stored_credential_context)
