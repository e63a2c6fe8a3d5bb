"""The gateway's own database: logins, code outcomes and admin operations."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.domain import WAITING_FOR_CODE, CodeOutcome, Login, PendingEnrollment
from services.gateway.outbox import Outbox, answered, kept
from shared.crypto import Sealed, SecretBox, enrollment_context
from shared.identity import DEFAULT_ORGANIZATION, UserRef
from shared.mongo import Document, Retention
from shared.rotation import reseal


def _login_from_document(doc: Document) -> Login:
    enrollment = doc.get("enrollment")
    return Login(
        login_id=doc["_id"],
        organization_id=doc["organization_id"],
        client=doc["client"],
        user_id=doc["user_id"],
        email=doc["email"],
        user_type=doc["user_type"],
        status=doc["status"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        mfa_required=doc.get("mfa_required"),
        credential_id=doc.get("credential_id"),
        enrollment=PendingEnrollment(
            Sealed.model_validate(enrollment["otpauth_uri"]), enrollment["expires_at"]
        )
        if enrollment
        else None,
        locked_until=doc.get("locked_until"),
        outcomes={sid: CodeOutcome(**o) for sid, o in doc.get("outcomes", {}).items()},
        browser=doc.get("browser"),
    )


class LoginStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._logins = db["logins"]
        self._cutoffs = db["login_cutoffs"]  # per user: the last authenticator reset
        # Logins, and the code answers kept in them, are dropped after a day.
        self.retention = Retention(self._logins, "created_at", timedelta(days=1))
        self.outbox = Outbox(self._logins, _open_login)

    async def ensure_indexes(self) -> None:
        await self._logins.create_index(
            [("organization_id", ASCENDING), ("user_id", ASCENDING), ("status", ASCENDING)]
        )
        await self.retention.ensure_index()

    async def move_into_organizations(self) -> int:
        """Logins from before organizations were the default organization's."""
        done = await self._logins.update_many(
            {"organization_id": {"$exists": False}},
            {"$set": {"organization_id": DEFAULT_ORGANIZATION}},
        )
        return done.modified_count

    async def create(self, login: Login, awaiting: dict[str, Document]) -> None:
        """Store a new login, keeping the event it awaits an answer to (outbox.py)."""
        await self._logins.insert_one(
            {
                "_id": login.login_id,
                "organization_id": login.organization_id,
                "client": login.client,
                "user_id": login.user_id,
                "email": login.email,
                "user_type": login.user_type,
                "status": login.status,
                "created_at": login.created_at,
                "expires_at": login.expires_at,
                "submissions": 0,
                "unanswered": awaiting,
            }
        )

    async def get(self, login_id: str) -> Login | None:
        doc = await self._logins.find_one({"_id": login_id})
        return None if doc is None else _login_from_document(doc)

    async def needs_no_code(self, login_id: str) -> None:
        """The policy asks no code of this login: authenticated, if still pending."""
        await self._logins.update_one(
            {"_id": login_id, "status": "pending"},
            {
                "$set": {"status": "authenticated", "mfa_required": False},
                "$unset": answered("attempt"),
            },
        )

    async def ask_for_code(
        self, login_id: str, credential_id: str, enrollment: PendingEnrollment | None
    ) -> None:
        status = "enrollment_required" if enrollment else "code_required"
        stored = (
            {
                "otpauth_uri": enrollment.otpauth_uri.model_dump(),
                "expires_at": enrollment.expires_at,
            }
            if enrollment
            else None
        )
        await self._logins.update_one(
            {"_id": login_id, "status": "pending"},
            {
                "$set": {
                    "status": status,
                    "mfa_required": True,
                    "credential_id": credential_id,
                    "enrollment": stored,
                },
                "$unset": answered("attempt"),
            },
        )

    async def reseal(self, box: SecretBox) -> int:
        """Seal again under the active key the QR payloads (otpauth URIs) logins show."""
        return await reseal(
            self._logins,
            box,
            "enrollment.otpauth_uri",
            lambda doc: enrollment_context(doc["_id"]),
        )

    async def count_submission(
        self, login_id: str, limit: int, awaiting: dict[str, Document]
    ) -> bool:
        """Count one more code for this login, keeping its submission until answered;
        False once ``limit`` were submitted."""
        done = await self._logins.update_one(
            {
                "_id": login_id,
                "$or": [{"submissions": {"$exists": False}}, {"submissions": {"$lt": limit}}],
            },
            {"$inc": {"submissions": 1}, "$set": kept(awaiting)},
        )
        return done.modified_count == 1

    async def cut_off(self, user: UserRef, at: datetime) -> None:
        """No login of ``user`` created at or before ``at`` may authenticate any more
        (an authenticator reset), and those still open end now."""
        await self._cutoffs.update_one({"_id": user.key}, {"$set": {"at": at}}, upsert=True)
        await self.expire_open_logins_of(user)

    async def code_accepted(self, login_id: str, user: UserRef, submission_id: str) -> None:
        """Authenticate the login, unless it ended or a reset cut it off meanwhile; either
        way the answer is kept for the request waiting on it."""
        answer = {
            "$set": {f"outcomes.{submission_id}": asdict(CodeOutcome(accepted=True))},
            "$unset": answered(submission_id),
        }
        condition: Document = {"_id": login_id, "status": {"$in": list(WAITING_FOR_CODE)}}
        cutoff = await self._cutoffs.find_one({"_id": user.key})
        if cutoff is not None:
            condition["created_at"] = {"$gt": cutoff["at"]}
        done = await self._logins.update_one(
            condition,
            {
                "$set": {
                    "status": "authenticated",
                    "enrollment": None,
                    "locked_until": None,
                    **answer["$set"],
                },
                "$unset": answer["$unset"],
            },
        )
        if done.matched_count == 0:  # answered, but the login ended or was cut off
            await self._logins.update_one({"_id": login_id}, answer)
            if cutoff is not None:
                await self.expire_open_logins_of(user)

    async def code_refused(self, login_id: str, submission_id: str, outcome: CodeOutcome) -> None:
        changes: Document = {f"outcomes.{submission_id}": asdict(outcome)}
        if outcome.locked_until is not None:
            changes["locked_until"] = outcome.locked_until
        await self._logins.update_one(
            {"_id": login_id}, {"$set": changes, "$unset": answered(submission_id)}
        )

    async def claim(self, login_id: str, browser: str) -> bool:
        """Bind a login to a browser session unless another one opened it first."""
        done = await self._logins.update_one(
            {"_id": login_id, "browser": None}, {"$set": {"browser": browser}}
        )
        return done.modified_count == 1

    async def expire(self, login_id: str) -> None:
        await self._logins.update_one(
            {"_id": login_id, "status": {"$ne": "authenticated"}},
            {"$set": {"status": "expired", "enrollment": None}, "$unset": answered()},
        )

    async def expire_open_logins_of(self, user: UserRef) -> None:
        await self._logins.update_many(
            {
                "organization_id": user.organization_id,
                "user_id": user.user_id,
                "status": {"$in": ["pending", *WAITING_FOR_CODE]},
            },
            {"$set": {"status": "expired", "enrollment": None}, "$unset": answered()},
        )


class OperationStore:
    """Admin operations awaiting confirmation from the services that own the data."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._operations = db["operations"]
        self.retention = Retention(self._operations, "created_at", timedelta(days=7))
        self.outbox = Outbox(self._operations, _open_operation)

    async def ensure_indexes(self) -> None:
        await self.retention.ensure_index()

    async def start(
        self,
        operation_id: str,
        kind: str,
        now: datetime,
        awaiting: dict[str, Document],
        **details: Any,
    ) -> None:
        """Record an operation and the event each owner is to answer (by owner)."""
        await self._operations.update_one(
            {"_id": operation_id},
            {"$set": {"kind": kind, "created_at": now, **details, **kept(awaiting)}},
            upsert=True,
        )

    async def applied(self, operation_id: str, by: str, now: datetime, **result: Any) -> None:
        await self._operations.update_one(
            {"_id": operation_id},
            {
                "$set": {f"applied.{by}": now, **result},
                "$setOnInsert": {"created_at": now},
                "$unset": answered(by),
            },
            upsert=True,
        )

    async def result(self, operation_id: str) -> Document:
        """What the owners reported when they applied it (e.g. a version, a conflict)."""
        return await self._operations.find_one({"_id": operation_id}) or {}

    async def applied_by(self, operation_id: str) -> set[str]:
        doc = await self._operations.find_one({"_id": operation_id}, projection={"applied": 1})
        return set((doc or {}).get("applied", {}))


def _open_login(now: datetime) -> Document:
    """Logins still waiting for something: the events they await are still worth sending."""
    return {"status": {"$in": ["pending", *WAITING_FOR_CODE]}, "expires_at": {"$gt": now}}


def _open_operation(now: datetime) -> Document:
    """Admin changes are sent again for a day: past that, an operator has been warned
    (every resend is logged) and looks at the service that never answers."""
    return {"created_at": {"$gt": now - timedelta(days=1)}}
