"""The gateway's own database: logins, code outcomes and admin operations."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.domain.login import (
    WAITING_FOR_CODE,
    Ask,
    CodeOutcome,
    Login,
    PassedBy,
    PendingEnrollment,
)
from services.gateway.events.outbox import Outbox, answered, kept
from shared.crypto import Sealed, SecretBox, enrollment_context
from shared.identity import UserRef
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
            _sealed(enrollment.get("otpauth_uri")),
            enrollment["expires_at"],
            enrollment.get("passkey_registration"),
        )
        if enrollment
        else None,
        locked_until=doc.get("locked_until"),
        outcomes={sid: CodeOutcome(**o) for sid, o in doc.get("outcomes", {}).items()},
        browser=doc.get("browser"),
        passed_by=doc.get("passed_by"),
        remembered_credential=doc.get("remembered_credential"),
        recovery_codes=_sealed(doc.get("recovery_codes")),
        recovery_codes_for=doc.get("recovery_codes_for"),
        callers=doc.get("callers") or {},
        lost_answers=frozenset(doc.get("lost_answers") or ()),
        device_remembered=doc.get("device_remembered", False),
        recovery_answer=doc.get("recovery_answer"),
        trace=doc.get("trace") or {},
        kinds=tuple(doc.get("kinds") or ("totp",)),
        digits=doc.get("digits", 6),
        period=doc.get("period", 30),
        passkey_authentication=doc.get("passkey_authentication"),
        first_use=doc.get("first_use", False),
        passkey_addition=doc.get("passkey_addition"),
        addition_answer=doc.get("addition_answer"),
        addition_refused=doc.get("addition_refused"),
    )


def _sealed(doc: Document | None) -> Sealed | None:
    return Sealed.model_validate(doc) if doc else None


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
                **(
                    {"remembered_credential": login.remembered_credential}
                    if login.remembered_credential
                    else {}
                ),
                **({"trace": dict(login.trace)} if login.trace else {}),
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

    async def ask_for_code(self, login_id: str, ask: Ask) -> bool:
        """Ask the pending login for a code or a passkey; False if it is not pending, or
        if it came from a device remembered for this very credential (pass_remembered)."""
        done = await self._logins.update_one(*_asking(login_id, ask))
        return done.matched_count == 1

    async def ask_many(self, asks: list[tuple[str, Ask]]) -> bool:
        """``ask_for_code`` for each login of a batch, in one request: True if every one
        was asked; otherwise the caller asks each again (an asked one answers False)."""
        if not asks:
            return True
        done = await self._logins.bulk_write(
            [UpdateOne(*_asking(login_id, ask)) for login_id, ask in asks], ordered=False
        )
        return done.matched_count == len(asks)

    async def pass_remembered(self, login_id: str, credential_id: str) -> bool:
        """Authenticate a pending login whose remembered device names the credential the
        user holds: no code is asked for."""
        done = await self._logins.update_one(
            {"_id": login_id, "status": "pending", "remembered_credential": credential_id},
            {
                "$set": {
                    "status": "authenticated",
                    "mfa_required": True,
                    "credential_id": credential_id,
                    "passed_by": "remembered_device",
                },
                "$unset": answered("attempt"),
            },
        )
        return done.modified_count == 1

    async def reseal(self, box: SecretBox) -> int:
        """Seal again under the active key the QR payloads (otpauth URIs) logins show."""
        return await reseal(
            self._logins,
            box,
            "enrollment.otpauth_uri",
            lambda doc: enrollment_context(doc["_id"]),
        )

    async def count_submission(
        self, login_id: str, limit: int, awaiting: dict[str, Document], caller: str
    ) -> bool:
        """Count one more code for this login, keeping its submission until answered
        and who sent it (``awaiting`` is keyed by the submission id); False once
        ``limit`` were submitted."""
        done = await self._logins.update_one(
            {
                "_id": login_id,
                "$or": [{"submissions": {"$exists": False}}, {"submissions": {"$lt": limit}}],
            },
            {
                "$inc": {"submissions": 1},
                "$set": {**kept(awaiting), **{f"callers.{sid}": caller for sid in awaiting}},
            },
        )
        return done.modified_count == 1

    async def cut_off(self, user: UserRef, at: datetime) -> None:
        """No login of ``user`` created at or before ``at`` may authenticate any more
        (an authenticator reset), and those still open end now."""
        await self._cutoffs.update_one({"_id": user.key}, {"$set": {"at": at}}, upsert=True)
        await self.expire_open_logins_of(user)

    async def code_accepted(
        self,
        login_id: str,
        user: UserRef,
        submission_id: str,
        passed_by: PassedBy = "code",
        recovery_codes: Sealed | None = None,
    ) -> None:
        """Authenticate the login (keeping any recovery codes issued, sealed, until they
        are shown), unless it ended or a reset cut it off meanwhile; either way the
        answer is kept for the request waiting on it."""
        cutoff = await self._cutoffs.find_one({"_id": user.key})
        cut_at = cutoff["at"] if cutoff is not None else None
        done = await self._logins.update_one(
            *_accepting(login_id, submission_id, passed_by, recovery_codes, cut_at)
        )
        if done.matched_count == 0:  # answered, but the login ended or was cut off
            await self._logins.update_one({"_id": login_id}, _answer(submission_id))
            if cutoff is not None:
                await self.expire_open_logins_of(user)

    async def codes_accepted(self, answers: list[tuple[str, UserRef, str]]) -> bool:
        """``code_accepted`` of a batch's logins (login id, user, submission) passed by
        an app's code: the users' reset cutoffs in one read, the logins in one write.
        False if any was not authenticated by it: the caller answers each on its own."""
        if not answers:
            return True
        keys = sorted({user.key for _, user, _ in answers})
        found = self._cutoffs.find({"_id": {"$in": keys}})
        cutoffs = {doc["_id"]: doc["at"] async for doc in found}
        done = await self._logins.bulk_write(
            [
                UpdateOne(*_accepting(login_id, sid, "code", None, cutoffs.get(user.key)))
                for login_id, user, sid in answers
            ],
            ordered=False,
        )
        return done.matched_count == len(answers)

    async def code_refused(self, login_id: str, submission_id: str, outcome: CodeOutcome) -> None:
        changes: Document = {f"outcomes.{submission_id}": asdict(outcome)}
        if outcome.locked_until is not None:
            changes["locked_until"] = outcome.locked_until
        await self._logins.update_one(
            {"_id": login_id}, {"$set": changes, "$unset": answered(submission_id)}
        )

    async def enrollment_confirmed(
        self, user: UserRef, credential_id: str, by_passkey: bool = False
    ) -> None:
        """The credential is confirmed: the user's logins still showing its QR ask for a
        code instead. Confirmed by a passkey, the QR's secret is void and those logins
        have no challenge to sign: they end (the user starts again, and is asked for
        the passkey)."""
        changes = (
            {"status": "expired", "enrollment": None}
            if by_passkey
            else {"status": "code_required", "enrollment": None, "kinds": ["totp"]}
        )
        await self._logins.update_many(
            {
                "organization_id": user.organization_id,
                "user_id": user.user_id,
                "status": "enrollment_required",
                "credential_id": credential_id,
            },
            {"$set": changes},
        )

    async def answer_lost(self, login_id: str, waited_for: str) -> None:
        """The wait for the answer to this submission or request timed out: whatever it
        issues may be read later, by the same caller (domain.may_take_recovery_codes)."""
        await self._logins.update_one(
            {"_id": login_id}, {"$addToSet": {"lost_answers": waited_for}}
        )

    async def take_recovery_codes(self, login_id: str, issued_for: str) -> Sealed | None:
        """The recovery codes that the answer to ``issued_for`` (a submission or request
        id) left in this login, once: they are removed as read."""
        doc = await self._logins.find_one_and_update(
            {
                "_id": login_id,
                "recovery_codes": {"$exists": True},
                "recovery_codes_for": issued_for,
            },
            {"$unset": {"recovery_codes": ""}},  # no projection: FerretDB 1.24 refuses one here
        )
        return _sealed(doc.get("recovery_codes")) if doc else None

    async def recovery_codes_requested(
        self, login_id: str, awaiting: dict[str, Document], request_id: str, caller: str
    ) -> None:
        await self._logins.update_one(
            {"_id": login_id}, {"$set": {**kept(awaiting), f"callers.{request_id}": caller}}
        )

    async def recovery_codes_issued(
        self, login_id: str, request_id: str, sealed: Sealed | None
    ) -> None:
        """Keep the new set (sealed) until shown, and which request (event id) it
        answers; None: the credential was gone."""
        changes = (
            {"recovery_codes": sealed.model_dump(), "recovery_codes_for": request_id}
            if sealed
            else {}
        )
        await self._logins.update_one(
            {"_id": login_id},
            {"$set": {**changes, "recovery_answer": request_id}, "$unset": answered("recovery")},
        )

    async def registration_requested(
        self, login_id: str, awaiting: dict[str, Document], request_id: str, caller: str
    ) -> None:
        """A passkey to add is asked for: the request kept until answered."""
        await self._logins.update_one(
            {"_id": login_id}, {"$set": {**kept(awaiting), f"callers.{request_id}": caller}}
        )

    async def registration_opened(
        self, login_id: str, request_id: str, options: str | None, refused: str | None
    ) -> None:
        """Enrollment's options for one more passkey (or why none), for the request."""
        await self._logins.update_one(
            {"_id": login_id},
            {
                "$set": {
                    "passkey_addition": options,
                    "addition_answer": request_id,
                    "addition_refused": refused,
                },
                "$unset": answered("addition"),
            },
        )

    async def device_remembered(self, login_id: str) -> bool:
        """Mark that this login's device was remembered: once per login."""
        done = await self._logins.update_one(
            {"_id": login_id, "status": "authenticated", "device_remembered": {"$ne": True}},
            {"$set": {"device_remembered": True}},
        )
        return done.modified_count == 1

    async def unlock_open_logins_of(self, user: UserRef) -> None:
        """An admin ended the user's lock: open logins stop showing it."""
        await self._logins.update_many(
            {
                "organization_id": user.organization_id,
                "user_id": user.user_id,
                "status": {"$in": list(WAITING_FOR_CODE)},
            },
            {"$set": {"locked_until": None}},
        )

    async def claim(self, login_id: str, browser: str) -> bool:
        """Bind a login to a browser session unless another one opened it first."""
        done = await self._logins.update_one(
            {"_id": login_id, "browser": None}, {"$set": {"browser": browser}}
        )
        return done.modified_count == 1

    async def keep_open(self, login_id: str, until: datetime) -> bool:
        """Keep a login that waits for the user open until ``until``: True if that is
        longer than it was."""
        done = await self._logins.update_one(
            {"_id": login_id, "status": {"$in": list(WAITING_FOR_CODE)}},
            {"$max": {"expires_at": until}},
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


def _open_login(now: datetime) -> Document:
    """Logins still waiting for something: the events they await are still worth sending.
    An authenticated one may await new recovery codes until it expires."""
    return {
        "status": {"$in": ["pending", *WAITING_FOR_CODE, "authenticated"]},
        "expires_at": {"$gt": now},
    }


def _asking(login_id: str, ask: Ask) -> tuple[Document, Document]:
    """The conditional write that asks a pending login for a code or a passkey."""
    enrollment = ask.enrollment
    status = "enrollment_required" if enrollment else "code_required"
    stored = (
        {
            "otpauth_uri": enrollment.otpauth_uri.model_dump() if enrollment.otpauth_uri else None,
            "expires_at": enrollment.expires_at,
            "passkey_registration": enrollment.passkey_registration,
        }
        if enrollment
        else None
    )
    condition: Document = {"_id": login_id, "status": "pending"}
    if enrollment is None:
        condition["remembered_credential"] = {"$ne": ask.credential_id}
    longer = {"$max": {"expires_at": ask.open_until}} if ask.open_until else {}
    lock = {"locked_until": ask.locked_until} if ask.locked_until else {}
    return (
        condition,
        {
            **longer,
            "$set": {
                "status": status,
                "mfa_required": True,
                "credential_id": ask.credential_id,
                "enrollment": stored,
                "kinds": list(ask.kinds),
                "passkey_authentication": ask.passkey_authentication,
                "first_use": ask.first_use,
                "digits": ask.digits,
                "period": ask.period,
                **lock,
            },
            "$unset": answered("attempt"),
        },
    )


def _answer(submission_id: str) -> Document:
    return {
        "$set": {f"outcomes.{submission_id}": asdict(CodeOutcome(accepted=True))},
        "$unset": answered(submission_id),
    }


def _accepting(
    login_id: str,
    submission_id: str,
    passed_by: PassedBy,
    recovery_codes: Sealed | None,
    cut_at: datetime | None,
) -> tuple[Document, Document]:
    """The write that authenticates a login waiting for a code, keeping the answer (and
    any recovery codes issued), unless a reset at ``cut_at`` cut it off."""
    condition: Document = {"_id": login_id, "status": {"$in": list(WAITING_FOR_CODE)}}
    if cut_at is not None:
        condition["created_at"] = {"$gt": cut_at}
    issued = (
        {"recovery_codes": recovery_codes.model_dump(), "recovery_codes_for": submission_id}
        if recovery_codes
        else {}
    )
    answer = _answer(submission_id)
    return condition, {
        "$set": {
            "status": "authenticated",
            "enrollment": None,
            "locked_until": None,
            "passed_by": passed_by,
            **issued,
            **answer["$set"],
        },
        "$unset": answer["$unset"],
    }
