"""In-memory stores for the gateway's handlers (services/gateway/stores/ports.py): each does
what its MongoDB counterpart does, which tests/integration/
test_gateway_store_contract.py checks by running the same scenarios on both."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from services.gateway.domain.login import (
    WAITING_FOR_CODE,
    Ask,
    CodeOutcome,
    Login,
    PassedBy,
    asked,
    passed_by_code,
)
from services.gateway.domain.snapshots import (
    NO_POLICY,
    AuthenticatorRecord,
    PasskeyRecord,
    PolicySnapshot,
)
from services.gateway.stores.audit import AuditEvent
from services.gateway.stores.read_models import Issued, Verified
from shared.crypto import Sealed
from shared.events import LoginDecided, Passkey, PolicyApplied
from shared.identity import UserRef
from shared.mongo import Document

OPEN = ("pending", *WAITING_FOR_CODE)


class FakeLoginStore:
    def __init__(self) -> None:
        self.logins: dict[str, Login] = {}
        self.unanswered: dict[str, set[str]] = {}
        self.cutoffs: dict[str, datetime] = {}

    async def create(self, login: Login, awaiting: dict[str, Document]) -> None:
        self.logins[login.login_id] = login
        self.unanswered[login.login_id] = set(awaiting)

    async def get(self, login_id: str) -> Login | None:
        return self.logins.get(login_id)

    def _answered(self, login_id: str, key: str) -> None:
        self.unanswered.get(login_id, set()).discard(key)

    async def needs_no_code(self, login_id: str) -> None:
        login = self.logins.get(login_id)
        if login and login.status == "pending":
            self.logins[login_id] = replace(login, status="authenticated", mfa_required=False)
            self._answered(login_id, "attempt")

    async def codes_accepted(self, answers: list[tuple[str, UserRef, str]]) -> bool:
        passed = []
        for login_id, user, submission_id in answers:
            waiting = (held := self.logins.get(login_id)) and held.status in WAITING_FOR_CODE
            await self.code_accepted(login_id, user, submission_id)
            passed.append(bool(waiting) and self.logins[login_id].status == "authenticated")
        return all(passed)

    async def ask_many(self, asks: list[tuple[str, Ask]]) -> bool:
        return all([await self.ask_for_code(login_id, ask) for login_id, ask in asks])

    async def ask_for_code(self, login_id: str, ask: Ask) -> bool:
        login = self.logins.get(login_id)
        if login is None or login.status != "pending":
            return False
        if ask.enrollment is None and login.remembered_credential == ask.credential_id:
            return False
        self.logins[login_id] = asked(login, ask)
        self._answered(login_id, "attempt")
        return True

    async def pass_remembered(self, login_id: str, credential_id: str) -> bool:
        login = self.logins.get(login_id)
        if login is None or login.status != "pending":
            return False
        if login.remembered_credential != credential_id:
            return False
        self.logins[login_id] = replace(
            login,
            status="authenticated",
            mfa_required=True,
            credential_id=credential_id,
            passed_by="remembered_device",
        )
        self._answered(login_id, "attempt")
        return True

    async def code_accepted(
        self,
        login_id: str,
        user: UserRef,
        submission_id: str,
        passed_by: PassedBy = "code",
        recovery_codes: Sealed | None = None,
    ) -> None:
        login = self.logins.get(login_id)
        if login is None:
            return
        outcomes = {**login.outcomes, submission_id: CodeOutcome(accepted=True)}
        self._answered(login_id, submission_id)
        cutoff = self.cutoffs.get(user.key)
        if login.status in WAITING_FOR_CODE and (cutoff is None or login.created_at > cutoff):
            self.logins[login_id] = passed_by_code(login, submission_id, passed_by, recovery_codes)
            return
        self.logins[login_id] = replace(login, outcomes=outcomes)
        if cutoff is not None:
            await self.expire_open_logins_of(user)

    async def code_refused(self, login_id: str, submission_id: str, outcome: CodeOutcome) -> None:
        login = self.logins.get(login_id)
        if login is None:
            return
        locked = outcome.locked_until if outcome.locked_until is not None else login.locked_until
        outcomes = {**login.outcomes, submission_id: outcome}
        self.logins[login_id] = replace(login, outcomes=outcomes, locked_until=locked)
        self._answered(login_id, submission_id)

    async def recovery_codes_issued(
        self, login_id: str, request_id: str, sealed: Sealed | None
    ) -> None:
        login = self.logins.get(login_id)
        if login is None:
            return
        codes = sealed or login.recovery_codes
        issued_for = request_id if sealed else login.recovery_codes_for
        self.logins[login_id] = replace(
            login, recovery_codes=codes, recovery_codes_for=issued_for, recovery_answer=request_id
        )
        self._answered(login_id, "recovery")

    async def registration_opened(
        self, login_id: str, request_id: str, options: str | None, refused: str | None
    ) -> None:
        login = self.logins.get(login_id)
        if login is None:
            return
        self.logins[login_id] = replace(
            login, passkey_addition=options, addition_answer=request_id, addition_refused=refused
        )
        self._answered(login_id, "addition")

    async def enrollment_confirmed(
        self, user: UserRef, credential_id: str, by_passkey: bool = False
    ) -> None:
        for login_id, login in list(self.logins.items()):
            if (
                login.user == user
                and login.status == "enrollment_required"
                and login.credential_id == credential_id
            ):
                self.logins[login_id] = (
                    replace(login, status="expired", enrollment=None)
                    if by_passkey
                    else replace(login, status="code_required", enrollment=None, kinds=("totp",))
                )

    async def cut_off(self, user: UserRef, at: datetime) -> None:
        self.cutoffs[user.key] = at
        await self.expire_open_logins_of(user)

    async def expire_open_logins_of(self, user: UserRef) -> None:
        for login_id, login in list(self.logins.items()):
            if login.user == user and login.status in OPEN:
                self.logins[login_id] = replace(login, status="expired", enrollment=None)
                self.unanswered[login_id] = set()


class FakeOperationStore:
    def __init__(self) -> None:
        self.applied_to: dict[str, dict[str, datetime]] = {}
        self.results: dict[str, dict[str, Any]] = {}

    async def applied(self, operation_id: str, by: str, now: datetime, **result: Any) -> None:
        self.applied_to.setdefault(operation_id, {})[by] = now
        self.results.setdefault(operation_id, {}).update(result)

    async def applied_by(self, operation_id: str) -> set[str]:
        return set(self.applied_to.get(operation_id, {}))

    async def row_applied(self, operation_id: str, key: str, now: datetime, outcome: str) -> None:
        self.results.setdefault(f"{operation_id}/{key}", {})["outcome"] = outcome


class FakePolicyView:
    def __init__(self) -> None:
        self.policies: dict[str, PolicySnapshot] = {}

    async def current(self, organization_id: str) -> PolicySnapshot:
        return self.policies.get(organization_id, NO_POLICY)

    async def apply(self, event: PolicyApplied) -> None:
        held = self.policies.get(event.organization_id)
        if held is None or held.version < event.version:
            self.policies[event.organization_id] = PolicySnapshot(
                event.policy, event.version, event.updated_at
            )


class FakeAuthenticatorView:
    def __init__(self) -> None:
        self.records: dict[str, AuthenticatorRecord] = {}

    async def get(self, user: UserRef) -> AuthenticatorRecord | None:
        return self.records.get(user.key)

    async def locks_of(self, users: list[UserRef], now: datetime) -> dict[str, datetime]:
        held = (self.records.get(u.key) for u in users)
        return {
            u.key: r.locked_until
            for u, r in zip(users, held, strict=True)
            if r and r.locked(now) and r.locked_until
        }

    async def codes_verified(self, batch: list[Verified]) -> None:
        for v in batch:
            await self.code_verified(v.user, v.credential_id, v.at, confirms=False, **v.facts)

    async def issued_many(self, batch: list[Issued]) -> None:
        for i in batch:
            await self.issued(i.user, i.credential_id, i.created_at, i.confirmed_at)

    async def issued(
        self, user: UserRef, credential_id: str, created_at: datetime, confirmed_at: datetime | None
    ) -> None:
        held = self.records.get(user.key)
        if confirmed_at is None and held is not None and held.credential_id == credential_id:
            return  # a pending credential replaces another credential, never itself
        fields: dict[str, Any] = {"credential_id": credential_id, "created_at": created_at}
        if confirmed_at is None:  # a new credential: nothing of the old one's
            fields.update(totp=False, passkeys=())
        self.records[user.key] = (
            replace(held, **fields, confirmed_at=confirmed_at)
            if held is not None
            else AuthenticatorRecord(credential_id, created_at, confirmed_at)
        )

    async def code_verified(
        self,
        user: UserRef,
        credential_id: str,
        at: datetime,
        confirms: bool,
        app: bool = True,
        ends_lock: bool = True,
        **facts: int | None,
    ) -> None:
        held = self.records.get(user.key)
        if held is None or held.credential_id != credential_id:
            return
        known = {k: v for k, v in facts.items() if v is not None}
        confirmed: dict[str, Any] = {"confirmed_at": at, "totp": app} if confirms else {}
        locked = None if ends_lock else held.locked_until
        self.records[user.key] = replace(held, locked_until=locked, **confirmed, **known)

    async def passkey_registered(self, user: UserRef, credential_id: str, passkey: Passkey) -> None:
        held = self.records.get(user.key)
        if held is not None and held.credential_id != credential_id:
            return
        record = PasskeyRecord(passkey.id, passkey.name, passkey.created_at)
        base = held or AuthenticatorRecord(credential_id, passkey.created_at, None)
        kept = tuple(p for p in base.passkeys if p.passkey_id != passkey.id)
        ordered = sorted((*kept, record), key=lambda p: p.created_at)
        self.records[user.key] = replace(base, passkeys=tuple(ordered))

    async def imported(
        self, user: UserRef, credential_id: str, at: datetime, confirmed: bool = True
    ) -> None:
        held = self.records.get(user.key)
        if held is not None and held.credential_id == credential_id:
            return  # never over itself
        confirmed_at = at if confirmed else None
        self.records[user.key] = AuthenticatorRecord(
            credential_id, at, confirmed_at, totp=confirmed
        )

    async def passkey_used(self, user: UserRef, passkey_id: str, at: datetime) -> None:
        held = self.records.get(user.key)
        if held is None:
            return
        used = tuple(
            replace(p, last_used_at=at) if p.passkey_id == passkey_id else p for p in held.passkeys
        )
        self.records[user.key] = replace(held, passkeys=used)

    async def lock_changed(self, user: UserRef, locked_until: datetime | None) -> None:
        if (held := self.records.get(user.key)) is not None:
            self.records[user.key] = replace(held, locked_until=locked_until)

    async def recovery_codes_issued(self, user: UserRef, credential_id: str, left: int) -> None:
        held = self.records.get(user.key)
        if held is not None and held.credential_id == credential_id:
            self.records[user.key] = replace(held, recovery_codes_left=left)


class FakeUserView:
    def __init__(self) -> None:
        self.users: dict[str, LoginDecided] = {}

    async def decided_many(self, events: list[LoginDecided]) -> None:
        for event in events:
            await self.decided(event)

    async def decided(self, event: LoginDecided) -> None:
        held = self.users.get(event.user.key)
        if held is None or held.occurred_at < event.occurred_at:
            self.users[event.user.key] = event

    async def email_of(self, user: UserRef) -> str | None:
        held = self.users.get(user.key)
        return held.email if held else None


class FakeDevices:
    def __init__(self) -> None:
        self.organizations: dict[str, int] = {}  # devices remembered per organization

    async def remember(self, user: UserRef, credential_id: str, now: datetime, days: int) -> None:
        self.organizations[user.organization_id] = (
            self.organizations.get(user.organization_id, 0) + 1
        )

    async def forget_organization(self, organization_id: str) -> int:
        return self.organizations.pop(organization_id, 0)


class FakeAuditLog:
    def __init__(self) -> None:
        self.rows: dict[str, AuditEvent] = {}

    async def record(self, event: AuditEvent, keep_days: int = 90) -> None:
        self.rows.setdefault(event.source or str(len(self.rows)), event)

    async def record_many(self, events: list[AuditEvent], keep_days: int = 90) -> None:
        for event in events:
            await self.record(event, keep_days)

    async def latest(self, organization_id: str, limit: int = 25) -> list[AuditEvent]:
        mine = [e for e in self.rows.values() if e.organization_id == organization_id]
        mine.sort(key=lambda e: e.at, reverse=True)
        return [replace(e, source=None) for e in mine[:limit]]
