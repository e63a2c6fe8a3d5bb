"""The verification service's database: one guarded authenticator per user.

Replay and lockout state change only by compare-and-set on ``version``, so any
number of replicas can check codes for the same user at once: the loser of a
race reloads and checks again (and then sees the replay or the lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.verification.domain import (
    Accepted,
    Answer,
    AnswerOutcome,
    GuardState,
    RecoveryAccepted,
    Rejected,
)
from services.verification.recovery import RecoveryCodes
from shared.crypto import Sealed, SecretBox
from shared.identity import UserRef
from shared.mongo import Document
from shared.rotation import reseal, stored_credential_context


@dataclass(frozen=True)
class Authenticator:
    user: UserRef
    credential_id: str
    secret: Sealed
    state: GuardState
    version: int
    answers: Mapping[str, Answer] = field(default_factory=dict)  # by event id, recent only
    recovery: RecoveryCodes | None = None


def _outcome_to_document(outcome: AnswerOutcome) -> Document | None:
    if outcome is None:
        return None
    if isinstance(outcome, Accepted):
        return {"accepted": True, "step": outcome.step, "offset": outcome.offset}
    if isinstance(outcome, RecoveryAccepted):
        return {"accepted": True, "recovery": True, "codes_left": outcome.codes_left}
    return {
        "accepted": False,
        "reason": outcome.reason,
        "attempts_left": outcome.attempts_left,
        "locked_until": outcome.locked_until,
        "locked_now": outcome.locked_now,
    }


def _outcome_from_document(doc: Document | None) -> AnswerOutcome:
    if doc is None:
        return None
    if doc.get("recovery"):
        return RecoveryAccepted(doc["codes_left"])
    if doc["accepted"]:
        return Accepted(doc["step"], doc.get("offset", 0))
    return Rejected(
        doc["reason"], doc["attempts_left"], doc.get("locked_until"), doc.get("locked_now", False)
    )


def _answer_to_document(answer: Answer) -> Document:
    sealed = answer.recovery_codes
    return {
        "outcome": _outcome_to_document(answer.outcome),
        "at": answer.at,
        **({"recovery_codes": sealed.model_dump()} if sealed else {}),
    }


def _answer_from_document(doc: Document) -> Answer:
    sealed = doc.get("recovery_codes")
    return Answer(
        _outcome_from_document(doc["outcome"]),
        doc["at"],
        Sealed.model_validate(sealed) if sealed else None,
    )


def _recovery_from_document(doc: Document | None) -> RecoveryCodes | None:
    return RecoveryCodes(doc["salt"], tuple(doc["digests"])) if doc else None


def _from_document(doc: Document) -> Authenticator:
    return Authenticator(
        user=UserRef(doc["organization_id"], doc["user_id"]),
        credential_id=doc["credential_id"],
        secret=Sealed.model_validate(doc["secret"]),
        state=GuardState(
            doc["last_step"], doc["failures"], doc.get("locked_until"), doc.get("locks", 0)
        ),
        version=doc["version"],
        answers=_answers_from_document(doc),
        recovery=_recovery_from_document(doc.get("recovery")),
    )


def _answers_from_document(doc: Document) -> dict[str, Answer]:
    answers = {
        event_id: _answer_from_document(answer)
        for event_id, answer in (doc.get("answers") or {}).items()
    }
    if doc.get("last_event_id") and doc.get("last_outcome"):  # the one answer kept before
        at = doc.get("updated_at") or datetime.now(UTC)
        answers.setdefault(
            doc["last_event_id"], Answer(_outcome_from_document(doc["last_outcome"]), at)
        )
    return answers


class AuthenticatorStore:
    """Keyed by (organization, user) in ``_id``: every query is a point lookup, so the
    collection needs no index of its own."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._authenticators = db["authenticators"]

    async def get(self, user: UserRef) -> Authenticator | None:
        doc = await self._authenticators.find_one({"_id": user.key})
        return None if doc is None else _from_document(doc)

    async def register(
        self, user: UserRef, credential_id: str, secret: Sealed, created_at: datetime
    ) -> bool:
        """Adopt a credential newer than the one held; the lockout state carries over.

        False if this credential, or a newer one, is held already: registrations can
        arrive out of order, and an older credential must never displace a newer one
        (nor reset its replay guard).
        """
        try:
            await self._authenticators.update_one(
                {
                    "_id": user.key,
                    "credential_id": {"$ne": credential_id},
                    "created_at": {"$lt": created_at},
                },
                {
                    "$set": {
                        "organization_id": user.organization_id,
                        "user_id": user.user_id,
                        "credential_id": credential_id,
                        "secret": secret.model_dump(),
                        "created_at": created_at,
                        "last_step": -1,
                        "answers": {},
                        "recovery": None,  # a new authenticator gets its own set
                    },
                    "$setOnInsert": {"failures": 0, "locked_until": None, "locks": 0},
                    "$inc": {"version": 1},
                },
                upsert=True,
            )
        except DuplicateKeyError:  # the filter missed: this credential or a newer one is held
            return False
        return True

    async def save(
        self,
        current: Authenticator,
        state: GuardState,
        answers: Mapping[str, Answer],
        recovery: RecoveryCodes | None = None,
    ) -> bool:
        """Write the new state, the answers kept and the recovery codes left (None: as
        they were), in one update, if nobody else changed the authenticator since it was
        read: an answer is never recorded without its effect."""
        recovery = recovery or current.recovery
        result = await self._authenticators.update_one(
            {"_id": current.user.key, "version": current.version},
            {
                "$set": {
                    "last_step": state.last_step,
                    "failures": state.failures,
                    "locked_until": state.locked_until,
                    "locks": state.locks,
                    "version": current.version + 1,
                    "answers": {
                        event_id: _answer_to_document(a) for event_id, a in answers.items()
                    },
                    "recovery": {"salt": recovery.salt, "digests": list(recovery.digests)}
                    if recovery
                    else None,
                },
                "$unset": {"last_event_id": "", "last_outcome": ""},
            },
        )
        return result.modified_count == 1

    async def forget(self, user: UserRef, requested_at: datetime) -> None:
        """Forget the credential the user had when the reset was requested; one made
        since (the user enrolled again before a copy of the reset arrived) stays."""
        await self._authenticators.delete_one(
            {"_id": user.key, "created_at": {"$lte": requested_at}}
        )

    async def unlock(self, user: UserRef) -> None:
        """End a lock and its escalation; the credential, its replay guard and the
        answers stay (a version bump makes a check in flight read again)."""
        await self._authenticators.update_one(
            {"_id": user.key},
            {
                "$set": {"failures": 0, "locked_until": None, "locks": 0},
                "$inc": {"version": 1},
            },
        )

    async def reseal(self, box: SecretBox) -> int:
        """Seal again under the active key the secrets another key sealed."""
        return await reseal(self._authenticators, box, "secret", stored_credential_context)
