"""What the gateway's event handlers need of its stores, as Protocols.

The MongoDB classes (logins.py, operations.py, read_models.py, audit.py) implement them;
tests/gateway_fakes.py holds in-memory ones, and tests/integration/
test_gateway_store_contract.py runs the same scenarios against both, so handler logic
can be tested without a database and the fakes cannot drift from the real thing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from services.gateway.domain.login import Ask, CodeOutcome, Login, PassedBy
from services.gateway.domain.snapshots import AuthenticatorRecord, PolicySnapshot
from services.gateway.stores.audit import AuditEvent
from services.gateway.stores.read_models import Issued
from shared.crypto import Sealed
from shared.events import LoginDecided, Passkey, PolicyApplied
from shared.identity import UserRef


class LoginAnswers(Protocol):
    async def get(self, login_id: str) -> Login | None: ...
    async def needs_no_code(self, login_id: str) -> None: ...
    async def ask_for_code(self, login_id: str, ask: Ask) -> bool: ...
    async def ask_many(self, asks: list[tuple[str, Ask]]) -> bool: ...
    async def pass_remembered(self, login_id: str, credential_id: str) -> bool: ...
    async def code_accepted(
        self,
        login_id: str,
        user: UserRef,
        submission_id: str,
        passed_by: PassedBy = "code",
        recovery_codes: Sealed | None = None,
    ) -> None: ...
    async def code_refused(
        self, login_id: str, submission_id: str, outcome: CodeOutcome
    ) -> None: ...
    async def enrollment_confirmed(
        self, user: UserRef, credential_id: str, by_passkey: bool = False
    ) -> None: ...
    async def recovery_codes_issued(
        self, login_id: str, request_id: str, sealed: Sealed | None
    ) -> None: ...
    async def registration_opened(
        self, login_id: str, request_id: str, options: str | None, refused: str | None
    ) -> None: ...


class OperationAnswers(Protocol):
    async def applied(self, operation_id: str, by: str, now: datetime, **result: Any) -> None: ...
    async def applied_by(self, operation_id: str) -> set[str]: ...
    async def row_applied(
        self, operation_id: str, key: str, now: datetime, outcome: str
    ) -> None: ...


class PolicyRecords(Protocol):
    async def current(self, organization_id: str) -> PolicySnapshot: ...
    async def apply(self, event: PolicyApplied) -> None: ...


class AuthenticatorRecords(Protocol):
    async def get(self, user: UserRef) -> AuthenticatorRecord | None: ...
    async def issued(
        self, user: UserRef, credential_id: str, created_at: datetime, confirmed_at: datetime | None
    ) -> None: ...
    async def issued_many(self, batch: list[Issued]) -> None: ...
    async def code_verified(
        self,
        user: UserRef,
        credential_id: str,
        at: datetime,
        confirms: bool,
        app: bool = True,
        ends_lock: bool = True,
        **facts: int | None,
    ) -> None: ...
    async def passkey_registered(
        self, user: UserRef, credential_id: str, passkey: Passkey
    ) -> None: ...
    async def passkey_used(self, user: UserRef, passkey_id: str, at: datetime) -> None: ...
    async def imported(
        self, user: UserRef, credential_id: str, at: datetime, confirmed: bool = True
    ) -> None: ...
    async def lock_changed(self, user: UserRef, locked_until: datetime | None) -> None: ...
    async def recovery_codes_issued(self, user: UserRef, credential_id: str, left: int) -> None: ...


class UserRecords(Protocol):
    async def decided(self, event: LoginDecided) -> None: ...
    async def decided_many(self, events: list[LoginDecided]) -> None: ...
    async def email_of(self, user: UserRef) -> str | None: ...


class DeviceRecords(Protocol):
    async def forget_organization(self, organization_id: str) -> int: ...


class AuditTrail(Protocol):
    async def record(self, event: AuditEvent, keep_days: int = 90) -> None: ...
    async def latest(self, organization_id: str, limit: int = 25) -> list[AuditEvent]: ...
