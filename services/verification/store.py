"""The verification service's database: one guarded authenticator per user.

Replay and lockout state change only by compare-and-set on ``version``, so any
number of replicas can check codes for the same user at once: the loser of a
race reloads and checks again (and then sees the replay or the lock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from services.verification.documents import (
    Authenticator,
    PasskeyUse,
    StoredPasskey,
    answer_to_document,
    authenticator_from,
    challenge_to_document,
)
from services.verification.domain import Answer, GuardState
from services.verification.recovery import RecoveryCodes
from shared.crypto import Sealed, SecretBox
from shared.events import Passkey, TotpParameters
from shared.identity import UserRef
from shared.mongo import Document
from shared.passkeys import Challenge
from shared.rotation import reseal, stored_credential_context

__all__ = ["Authenticator", "AuthenticatorStore", "GuardedWrite", "PasskeyUse", "StoredPasskey"]


class AuthenticatorStore:
    """Keyed by (organization, user) in ``_id``: every query is a point lookup, so the
    collection needs no index of its own."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._authenticators = db["authenticators"]

    async def get(self, user: UserRef) -> Authenticator | None:
        doc = await self._authenticators.find_one({"_id": user.key})
        return None if doc is None else authenticator_from(doc)

    async def register(
        self,
        user: UserRef,
        credential_id: str,
        secret: Sealed,
        created_at: datetime,
        parameters: TotpParameters | None = None,
        counter: int | None = None,
    ) -> bool:
        """Adopt a credential newer than the one held; the lockout state carries over.

        False if this credential, or a newer one, is held already: registrations can
        arrive out of order, and an older credential must never displace a newer one
        (nor reset its replay guard). An HOTP token imported again never goes back
        behind the counter it had reached here (its used codes stay used).
        """
        if counter is not None:
            counter = max(counter, await self._hotp_reached(user, credential_id) + 1)
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
                        "totp_parameters": (parameters or TotpParameters()).model_dump(),
                        "hotp": counter is not None,
                        "created_at": created_at,
                        # In the new secret's own steps; an HOTP token's: the last counter
                        # used (the next code expected is the one after it).
                        "last_step": -1 if counter is None else counter - 1,
                        "answers": {},
                        "recovery": None,  # a new authenticator gets its own set
                        "passkeys": {},  # and none of the old one's passkeys
                        "challenges": {},
                    },
                    "$setOnInsert": {"failures": 0, "locked_until": None, "locks": 0},
                    "$inc": {"version": 1},
                },
                upsert=True,
            )
        except DuplicateKeyError:  # the filter missed: this credential or a newer one is held
            return False
        return True

    async def _hotp_reached(self, user: UserRef, credential_id: str) -> int:
        doc = await self._authenticators.find_one(
            {"_id": user.key}, projection={f"hotp_counters.{credential_id}": 1}
        )
        reached = ((doc or {}).get("hotp_counters") or {}).get(credential_id)
        return int(reached) if reached is not None else -1

    async def save(
        self,
        current: Authenticator,
        state: GuardState,
        answers: Mapping[str, Answer],
        recovery: RecoveryCodes | None = None,
        used: PasskeyUse | None = None,
    ) -> bool:
        """Write the new state, the answers kept and the recovery codes left (None: as
        they were), and a passkey's new counter with the challenge it took (single-use),
        in one update, if nobody else changed the authenticator since it was read: an
        answer is never recorded without its effect."""
        condition, change = _guarded_write(current, state, answers, recovery, used)
        result = await self._authenticators.update_one(condition, change)
        return result.modified_count == 1

    async def get_many(self, users: list[UserRef]) -> dict[str, Authenticator]:
        """The users' authenticators by key, in one ``_id $in`` read (a batch's)."""
        found = self._authenticators.find({"_id": {"$in": [u.key for u in users]}})
        return {doc["_id"]: authenticator_from(doc) async for doc in found}

    async def save_many(self, writes: list[GuardedWrite]) -> set[str]:
        """A batch's compare-and-set writes in one request: the event ids whose write
        landed (its answer is in the document). Another replica may have changed some
        of these authenticators since they were read: those events are left out, for
        their caller to check again one by one."""
        if not writes:
            return set()
        result = await self._authenticators.bulk_write(
            [UpdateOne(*_guarded_write(*w.fields)) for w in writes], ordered=False
        )
        if result.modified_count == len(writes):
            return {w.event_id for w in writes}
        keys = [w.current.user.key for w in writes]
        found = self._authenticators.find({"_id": {"$in": keys}}, projection={"answers": 1})
        answered = {doc["_id"]: doc.get("answers") or {} async for doc in found}
        return {w.event_id for w in writes if w.event_id in answered.get(w.current.user.key, {})}

    async def open_challenge(
        self, current: Authenticator, challenge: Challenge, now: datetime
    ) -> bool:
        """Keep a login's sign-in challenge (dropping the expired ones); False if the
        authenticator changed meanwhile (a version bump: a check in flight reads again)."""
        expired = {f"challenges.{i}": "" for i, c in current.challenges.items() if not c.live(now)}
        expired.pop(f"challenges.{challenge.login_id}", None)
        result = await self._authenticators.update_one(
            {"_id": current.user.key, "version": current.version},
            {
                "$set": {
                    f"challenges.{challenge.login_id}": challenge_to_document(challenge),
                    "version": current.version + 1,
                },
                **({"$unset": expired} if expired else {}),
            },
        )
        return result.modified_count == 1

    async def adopt_passkey(
        self,
        user: UserRef,
        current: Authenticator | None,
        credential_id: str,
        passkey: Passkey,
        void_secret: bool,
        answers: Mapping[str, Answer],
        recovery: RecoveryCodes | None,
    ) -> bool:
        """Add a registered passkey to the user's authenticator (creating it for a user
        whose first authenticator this is, replacing an older one of another id), with the
        answer to the registration, in one write; False if another replica wrote first."""
        stored = {
            "public_key": passkey.public_key,
            "sign_count": passkey.sign_count,
            "transports": list(passkey.transports),
            "created_at": passkey.created_at,
        }
        fields: Document = {
            "credential_id": credential_id,
            "answers": {event_id: answer_to_document(a) for event_id, a in answers.items()},
            "recovery": {"salt": recovery.salt, "digests": list(recovery.digests)}
            if recovery
            else None,
        }
        if current is None or current.credential_id != credential_id:
            # A new authenticator: an older one, its app secret and challenges go; its
            # lockout stays (a reset deletes the document, and with it the lockout).
            fields.update(
                {
                    "organization_id": user.organization_id,
                    "user_id": user.user_id,
                    "secret": None,
                    "passkeys": {passkey.id: stored},
                    "challenges": {},
                    "created_at": passkey.created_at,
                    "last_step": -1,
                }
            )
        else:
            fields[f"passkeys.{passkey.id}"] = stored
            if void_secret:
                fields["secret"] = None
        if current is None:
            new = {"_id": user.key, **fields, "failures": 0, "locked_until": None, "locks": 0}
            try:
                await self._authenticators.insert_one({**new, "version": 1})
            except DuplicateKeyError:
                return False
            return True
        result = await self._authenticators.update_one(
            {"_id": user.key, "version": current.version},
            {"$set": {**fields, "version": current.version + 1}},
        )
        return result.modified_count == 1

    async def remove_passkeys(self, user: UserRef, passkey_ids: tuple[str, ...]) -> None:
        """Forget these passkeys (a version bump: a check in flight reads again, and
        finds them gone)."""
        await self._authenticators.update_one(
            {"_id": user.key},
            {
                "$unset": {f"passkeys.{passkey_id}": "" for passkey_id in passkey_ids},
                "$inc": {"version": 1},
            },
        )

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


async def held_soon(
    store: AuthenticatorStore,
    user: UserRef,
    wanted: Callable[[Authenticator], bool],
    within: float,
) -> Authenticator | None:
    """The user's authenticator once ``wanted`` holds of it, looking again every 50 ms
    for up to ``within`` seconds: a credential and the event that needs it reach
    verification on different streams, and the credential may be a moment behind."""

    @retry(
        retry=retry_if_result(lambda found: found is None),
        stop=stop_after_delay(within),
        wait=wait_fixed(0.05),
        retry_error_callback=lambda _: None,
    )
    async def lookup() -> Authenticator | None:
        found = await store.get(user)
        return found if found is not None and wanted(found) else None

    return await lookup()


@dataclass(frozen=True)
class GuardedWrite:
    """One compare-and-set write of a batch, and the event whose answer it keeps."""

    event_id: str
    current: Authenticator
    state: GuardState
    answers: Mapping[str, Answer]
    recovery: RecoveryCodes | None = None

    @property
    def fields(
        self,
    ) -> tuple[Authenticator, GuardState, Mapping[str, Answer], RecoveryCodes | None]:
        return self.current, self.state, self.answers, self.recovery


def _guarded_write(
    current: Authenticator,
    state: GuardState,
    answers: Mapping[str, Answer],
    recovery: RecoveryCodes | None = None,
    used: PasskeyUse | None = None,
) -> tuple[Document, Document]:
    """The filter and update of a compare-and-set on ``version``: the new state, the
    answers kept (the event's among them) and what else the check changed."""
    recovery = recovery or current.recovery
    passkey: Document = {}
    taken: Document = {}
    if used is not None:
        passkey = {
            f"passkeys.{used.passkey_id}.sign_count": used.sign_count,
            f"passkeys.{used.passkey_id}.last_used_at": used.at,
        }
        taken = {f"challenges.{used.login_id}": ""}
    # An HOTP token's counter, remembered by credential beyond a replacement.
    reached = {f"hotp_counters.{current.credential_id}": state.last_step} if current.hotp else {}
    return (
        {"_id": current.user.key, "version": current.version},
        {
            "$set": {
                **passkey,
                **reached,
                "last_step": state.last_step,
                "failures": state.failures,
                "locked_until": state.locked_until,
                "locks": state.locks,
                "version": current.version + 1,
                "answers": {event_id: answer_to_document(a) for event_id, a in answers.items()},
                "recovery": {"salt": recovery.salt, "digests": list(recovery.digests)}
                if recovery
                else None,
            },
            "$unset": {"last_event_id": "", "last_outcome": "", **taken},
        },
    )
