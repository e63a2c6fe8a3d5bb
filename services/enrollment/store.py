"""The enrollment service's database: one document per user, holding their
authenticator: the app's secret (sealed), their passkeys, and the passkey registrations
open for their logins (each challenge single-use: taken in the write that registers)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.enrollment.domain import MAX_PASSKEYS, Credential
from shared.crypto import Sealed, SecretBox
from shared.events import Passkey, RelyingParty, TotpParameters
from shared.identity import UserRef
from shared.mongo import Document
from shared.passkeys import Challenge
from shared.rotation import reseal, stored_credential_context


def _challenge_to_document(challenge: Challenge) -> Document:
    return {
        "challenge": challenge.challenge,
        "rp_id": challenge.rp_id,
        "origins": list(challenge.origins),
        "user_verification": challenge.user_verification,
        "expires_at": challenge.expires_at,
    }


def _challenge_from_document(user: UserRef, login_id: str, doc: Document) -> Challenge:
    return Challenge(
        login_id,
        user,
        doc["challenge"],
        doc["rp_id"],
        tuple(doc["origins"]),
        doc["user_verification"],
        doc["expires_at"],
    )


def _passkey_field(passkey_id: str) -> str:
    return f"passkeys.{passkey_id}"  # base64url: never a dot or a leading $


def _to_document(credential: Credential, secret: Sealed | None) -> Document:
    return {
        "_id": credential.user.key,
        "organization_id": credential.user.organization_id,
        "user_id": credential.user.user_id,
        "credential_id": credential.credential_id,
        "account": credential.account,
        "secret": secret.model_dump() if secret else None,
        "totp": credential.totp,
        "totp_parameters": credential.parameters.model_dump(),
        "created_at": credential.created_at,
        "offer_expires_at": credential.offer_expires_at,
        "confirmed_at": credential.confirmed_at,
        "first_use": credential.first_use,
        "passkeys": {},
        "passkey_count": 0,
        "registrations": {c.login_id: _challenge_to_document(c) for c in credential.registrations},
    }


def _party(doc: Document | None) -> RelyingParty | None:
    return RelyingParty.model_validate(doc) if doc else None


def _from_document(doc: Document) -> tuple[Credential, Sealed | None]:
    user = UserRef(doc["organization_id"], doc["user_id"])
    stored = (doc.get("passkeys") or {}).values()
    passkeys = sorted(
        (
            Passkey.model_validate({k: v for k, v in p.items() if k != "submission_id"})
            for p in stored
        ),
        key=lambda p: p.created_at,
    )
    credential = Credential(
        user=user,
        credential_id=doc["credential_id"],
        account=doc["account"],
        created_at=doc["created_at"],
        offer_expires_at=doc["offer_expires_at"],
        confirmed_at=doc.get("confirmed_at"),
        first_use=doc.get("first_use", False),
        totp=doc.get("totp", True),
        parameters=TotpParameters.model_validate(doc.get("totp_parameters") or {}),
        passkeys=tuple(passkeys),
        registrations=tuple(
            _challenge_from_document(user, login_id, c)
            for login_id, c in (doc.get("registrations") or {}).items()
        ),
        submissions={p["submission_id"]: p["id"] for p in stored if p.get("submission_id")},
        party=_party(doc.get("relying_party")),
    )
    secret = doc.get("secret")
    return credential, Sealed.model_validate(secret) if secret else None


class CredentialStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._credentials = db["credentials"]

    async def ensure_indexes(self) -> None:
        """Keyed by (organization, user) in _id: nothing more to index."""

    async def get(self, user: UserRef) -> tuple[Credential, Sealed | None] | None:
        doc = await self._credentials.find_one({"_id": user.key})
        return None if doc is None else _from_document(doc)

    async def get_many(self, users: list[UserRef]) -> dict[str, Credential]:
        """The users' credentials by key, in one ``_id $in`` read (a batch's)."""
        found = self._credentials.find({"_id": {"$in": [u.key for u in users]}})
        return {doc["_id"]: _from_document(doc)[0] async for doc in found}

    async def put_new(
        self,
        credential: Credential,
        secret: Sealed | None,
        replacing: Credential | None,
        over_confirmed: bool = False,
    ) -> bool:
        """Store a new credential unless another login got there first (then False); a
        confirmed one is replaced only ``over_confirmed`` (an import told to replace)."""
        doc = _to_document(credential, secret)
        if replacing is None:
            try:
                await self._credentials.insert_one(doc)
            except DuplicateKeyError:
                return False
            return True
        condition: Document = {"_id": credential.user.key, "credential_id": replacing.credential_id}
        if not over_confirmed:
            condition["confirmed_at"] = None
        result = await self._credentials.replace_one(condition, doc)
        return result.matched_count == 1

    async def confirm(self, user: UserRef, credential_id: str, now: datetime) -> bool:
        result = await self._credentials.update_one(
            {"_id": user.key, "credential_id": credential_id, "confirmed_at": None},
            {"$set": {"confirmed_at": now}},
        )
        return result.modified_count == 1

    async def open_registration(
        self, credential: Credential, challenge: Challenge, now: datetime
    ) -> bool:
        """Keep a login's registration challenge with the user's authenticator (dropping
        the ones that expired); False if the authenticator was replaced or reset."""
        expired = {
            f"registrations.{c.login_id}": ""
            for c in credential.registrations
            if not c.live(now) and c.login_id != challenge.login_id
        }
        result = await self._credentials.update_one(
            {"_id": credential.user.key, "credential_id": credential.credential_id},
            {
                "$set": {f"registrations.{challenge.login_id}": _challenge_to_document(challenge)},
                **({"$unset": expired} if expired else {}),
            },
        )
        return result.matched_count == 1

    async def register_passkey(
        self,
        credential: Credential,
        challenge: Challenge,
        passkey: Passkey,
        submission_id: str,
        now: datetime,
    ) -> bool:
        """Add the passkey and take its challenge in one write, if the challenge is still
        open and the user holds fewer than MAX_PASSKEYS and not this one; the first
        passkey of a user being enrolled confirms the authenticator, and voids the app
        secret that was offered beside it."""
        condition: Document = {
            "_id": credential.user.key,
            "credential_id": credential.credential_id,
            f"registrations.{challenge.login_id}.challenge": challenge.challenge,
            _passkey_field(passkey.id): {"$exists": False},
            # Documents from before passkeys have no count: none registered.
            "$or": [
                {"passkey_count": {"$lt": MAX_PASSKEYS}},
                {"passkey_count": {"$exists": False}},
            ],
        }
        changes: Document = {
            _passkey_field(passkey.id): {**passkey.model_dump(), "submission_id": submission_id},
            "relying_party": {"id": challenge.rp_id, "origins": list(challenge.origins)},
        }
        if not credential.confirmed:
            condition["confirmed_at"] = None
            changes.update({"confirmed_at": now, "totp": False, "secret": None})
        result = await self._credentials.update_one(
            condition,
            {
                "$set": changes,
                "$unset": {f"registrations.{challenge.login_id}": ""},
                "$inc": {"passkey_count": 1},
            },
        )
        return result.modified_count == 1

    async def remove_passkeys(self, user: UserRef, passkey_ids: tuple[str, ...]) -> int:
        """Remove these passkeys (one write each, so the count stays exact whoever else
        removes or adds meanwhile); how many were held."""
        removed = 0
        for passkey_id in passkey_ids:
            done = await self._credentials.update_one(
                {"_id": user.key, _passkey_field(passkey_id): {"$exists": True}},
                {"$unset": {_passkey_field(passkey_id): ""}, "$inc": {"passkey_count": -1}},
            )
            removed += done.modified_count
        return removed

    async def forget(self, user: UserRef, requested_at: datetime) -> None:
        """Forget the credential the user had when the reset was requested; one made
        since (the user enrolled again before a copy of the reset arrived) stays."""
        await self._credentials.delete_one({"_id": user.key, "created_at": {"$lte": requested_at}})

    async def reseal(self, box: SecretBox) -> int:
        """Seal again under the active key the secrets another key sealed."""
        return await reseal(self._credentials, box, "secret", stored_credential_context)
