"""What the verification service keeps per user, as values and as MongoDB documents:
the guarded authenticator (an app's secret, passkeys, the lockout state, recent answers,
recovery codes, open challenges) and the conversions both ways."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.verification.domain import (
    Accepted,
    Answer,
    AnswerOutcome,
    GuardState,
    PasskeyAccepted,
    RecoveryAccepted,
    Rejected,
)
from services.verification.recovery import RecoveryCodes
from shared.crypto import Sealed
from shared.events import TotpParameters
from shared.identity import UserRef
from shared.mongo import Document
from shared.passkeys import Challenge


@dataclass(frozen=True)
class StoredPasskey:
    public_key: str  # COSE, base64url
    sign_count: int
    transports: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class PasskeyUse:
    """A passkey's accepted answer: its new counter, and the challenge it took."""

    login_id: str
    passkey_id: str
    sign_count: int
    at: datetime


@dataclass(frozen=True)
class Authenticator:
    user: UserRef
    credential_id: str
    secret: Sealed | None  # None: the user holds passkeys only
    state: GuardState
    version: int
    answers: Mapping[str, Answer] = field(default_factory=dict)  # by event id, recent only
    recovery: RecoveryCodes | None = None
    passkeys: Mapping[str, StoredPasskey] = field(default_factory=dict)  # by id (base64url)
    challenges: Mapping[str, Challenge] = field(default_factory=dict)  # by login id
    created_at: datetime | None = None  # of the credential_id (the first authenticator)
    parameters: TotpParameters = field(default_factory=TotpParameters)  # the app's codes
    hotp: bool = False  # a counter-based token (last_step: the last counter accepted)


def _outcome_to_document(outcome: AnswerOutcome) -> Document | None:
    if outcome is None:
        return None
    if isinstance(outcome, Accepted):
        return {"accepted": True, "step": outcome.step, "offset": outcome.offset}
    if isinstance(outcome, RecoveryAccepted):
        return {"accepted": True, "recovery": True, "codes_left": outcome.codes_left}
    if isinstance(outcome, PasskeyAccepted):
        return {"accepted": True, "passkey": outcome.passkey_id, "sign_count": outcome.sign_count}
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
    if doc.get("passkey"):
        return PasskeyAccepted(doc["passkey"], doc["sign_count"])
    if doc["accepted"]:
        return Accepted(doc["step"], doc.get("offset", 0))
    return Rejected(
        doc["reason"], doc["attempts_left"], doc.get("locked_until"), doc.get("locked_now", False)
    )


def answer_to_document(answer: Answer) -> Document:
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


def _passkey_from_document(doc: Document) -> StoredPasskey:
    return StoredPasskey(
        doc["public_key"], doc["sign_count"], tuple(doc.get("transports") or ()), doc["created_at"]
    )


def challenge_to_document(challenge: Challenge) -> Document:
    return {
        "challenge": challenge.challenge,
        "rp_id": challenge.rp_id,
        "origins": list(challenge.origins),
        "user_verification": challenge.user_verification,
        "expires_at": challenge.expires_at,
    }


def _challenges_from_document(user: UserRef, doc: Document) -> dict[str, Challenge]:
    return {
        login_id: Challenge(
            login_id,
            user,
            c["challenge"],
            c["rp_id"],
            tuple(c["origins"]),
            c["user_verification"],
            c["expires_at"],
        )
        for login_id, c in (doc.get("challenges") or {}).items()
    }


def authenticator_from(doc: Document) -> Authenticator:
    user = UserRef(doc["organization_id"], doc["user_id"])
    return Authenticator(
        user=user,
        credential_id=doc["credential_id"],
        secret=Sealed.model_validate(doc["secret"]) if doc.get("secret") else None,
        state=GuardState(
            doc["last_step"], doc["failures"], doc.get("locked_until"), doc.get("locks", 0)
        ),
        version=doc["version"],
        answers=_answers_from_document(doc),
        recovery=_recovery_from_document(doc.get("recovery")),
        passkeys={pid: _passkey_from_document(p) for pid, p in (doc.get("passkeys") or {}).items()},
        challenges=_challenges_from_document(user, doc),
        created_at=doc.get("created_at"),
        parameters=TotpParameters.model_validate(doc.get("totp_parameters") or {}),
        hotp=doc.get("hotp", False),
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
