"""An administrator brings existing authenticators across (issue 21): a file is read,
each row's outcome shown (a dry run, the default), and applied only as shown.

Secrets are sealed for their credential as each row is planned, in the request that
read the file; the file itself is neither stored nor logged, and no secret is in a
report, an event in clear, or a log line.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from services.gateway.domain.import_formats import PARSERS, Secrets
from services.gateway.domain.imports import (
    IMPORTED,
    Planned,
    Row,
    fingerprint,
    outcome_of,
    plan_id,
    secret_mark,
)
from services.gateway.domain.snapshots import IMPORTED_PREFIX
from services.gateway.events.change_feed import ChangeFeed
from services.gateway.events.outbox import awaiting
from services.gateway.stores.audit import AuditEvent, AuditLog
from services.gateway.stores.operations import OperationStore
from services.gateway.stores.read_models import AuthenticatorView, UserView
from services.gateway.use_cases.errors import NotAppliedInTime
from services.gateway.use_cases.login import Publish, new_id
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox, credential_context
from shared.events import AuthenticatorImported
from shared.identity import InvalidId, UserRef, canonical_user_id

Format = Literal["otpauth_csv", "google_migration", "oath_csv", "pskc"]
FINGERPRINT_PURPOSE = "import-fingerprints"


class PlanChanged(Exception):
    """Applying a file whose outcomes are no longer those of the dry run named."""

    def __init__(self, plan: str) -> None:
        super().__init__(plan)
        self.plan = plan


@dataclass(frozen=True)
class ImportOptions:
    format: Format = "otpauth_csv"
    apply: bool = False
    plan: str | None = None  # the dry run's: apply refuses if anything changed
    on_existing: Literal["skip", "replace"] = "skip"
    allow_short_secrets: bool = False
    mapping: Mapping[str, str] = field(default_factory=dict)  # a file's name -> user id
    # now: confirmed as imported; first_use: confirmed by the user's first accepted code.
    confirm: Literal["now", "first_use"] = "now"


@dataclass(frozen=True)
class ImportReport:
    plan: str
    applied: bool
    rows: list[Planned]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(p.outcome for p in self.rows))


@dataclass(frozen=True)
class ImportFlow:
    authenticators: AuthenticatorView
    operations: OperationStore
    audit: AuditLog
    feed: ChangeFeed
    clock: Clock
    box: SecretBox
    fingerprint_key: bytes
    publish: Publish
    timeout: float
    users: UserView

    async def run(
        self,
        organization_id: str,
        data: bytes,
        options: ImportOptions,
        requested_by: str,
        secrets: Secrets | None = None,
    ) -> ImportReport:
        """MalformedFile (a 422 naming the row) if the file cannot be read at all; an
        encrypted file is opened with ``secrets``, which are kept nowhere."""
        # Parsing (and a PSKC file's key derivation) runs off the event loop.
        rows = await asyncio.to_thread(PARSERS[options.format], data, secrets or Secrets())
        rows = await self._users_named(organization_id, rows, options)
        planned, events = await self._plan(organization_id, rows, options, requested_by)
        plan = plan_id(organization_id, planned, confirm=options.confirm)
        if not options.apply:
            return ImportReport(plan, False, planned)
        if options.plan != plan:
            raise PlanChanged(plan)
        await self.users.imported(
            organization_id,
            [(e.user_id, e.account if "@" in e.account else "") for e in events],
            self.clock.now(),
        )
        outcomes = await self._apply(organization_id, events, requested_by)
        return ImportReport(plan, True, [_as_applied(p, outcomes) for p in planned])

    async def _users_named(
        self, organization_id: str, rows: list[Row], options: ImportOptions
    ) -> list[Row]:
        """Each row's user id: as the mapping names it, else (in files made for users,
        not by the relying application) the known user whose id or e-mail the file's
        account name is; a file that names user ids names them itself."""
        mapped = [
            replace(r, user_id=options.mapping[r.user_id], names_user=True)
            if r.user_id in options.mapping
            else r
            for r in rows
        ]
        names = {r.user_id for r in mapped if not r.names_user}
        known = await self.users.named(organization_id, names) if names else {}
        return [r if r.names_user else replace(r, user_id=known.get(r.user_id, "")) for r in mapped]

    async def _plan(
        self, organization_id: str, rows: list[Row], options: ImportOptions, requested_by: str
    ) -> tuple[list[Planned], list[AuthenticatorImported]]:
        users = [_canonical(r.user_id) for r in rows]
        named = Counter(u for u in users if u)
        key = self.fingerprint_key
        secrets = [secret_mark(key, organization_id, r.otp) if r.otp else "" for r in rows]
        # Among rows naming a user: a row of nobody's imports nothing, shares nothing.
        shared = Counter(s for s, u in zip(secrets, users, strict=True) if s and u)
        keys = [UserRef(organization_id, u).key for u in users if u]
        held = await self.authenticators.many(keys)
        planned: list[Planned] = []
        events: list[AuthenticatorImported] = []
        for row, user_id, secret in zip(rows, users, secrets, strict=True):
            if not user_id:
                detail = "no such user (map the file's name to a user id)"
                planned.append(Planned(row.row, row.user_id[:128], "unknown_user", detail, ""))
                continue
            if secret and shared[secret] > 1:
                detail = "the same secret is on another row: a secret belongs to one user"
                planned.append(Planned(row.row, user_id, "duplicate_secret", detail, ""))
                continue
            if named[user_id] > 1:
                detail = "named on more than one row"
                planned.append(Planned(row.row, user_id, "duplicate_user", detail, ""))
                continue
            user = UserRef(organization_id, user_id)
            mark = (
                fingerprint(self.fingerprint_key, organization_id, user_id, row.otp)
                if row.otp
                else ""
            )
            credential_id = f"{IMPORTED_PREFIX}{mark}"
            outcome, detail = outcome_of(
                row,
                held.get(user.key),
                credential_id,
                replace=options.on_existing == "replace",
                allow_short=options.allow_short_secrets,
            )
            planned.append(Planned(row.row, user_id, outcome, detail, mark))
            if outcome in IMPORTED and row.otp is not None:
                events.append(self._event(user, credential_id, row, outcome, options, requested_by))
        return planned, events

    def _event(
        self,
        user: UserRef,
        credential_id: str,
        row: Row,
        outcome: str,
        options: ImportOptions,
        requested_by: str,
    ) -> AuthenticatorImported:
        otp = row.otp
        assert otp is not None  # noqa: S101 - planned as imported
        return AuthenticatorImported(
            occurred_at=self.clock.now(),
            correlation_id="pending",  # the operation's id, set when applied
            organization_id=user.organization_id,
            user_id=user.user_id,
            credential_id=credential_id,
            secret=self.box.seal(otp.base32, credential_context(user, credential_id)),
            algorithm=otp.algorithm,
            digits=otp.digits,
            period=otp.period,
            counter=otp.counter,
            account=row.email[:254],
            replace=outcome == "replace",
            confirm=options.confirm,
            requested_by=requested_by,
        )

    async def _apply(
        self, organization_id: str, events: list[AuthenticatorImported], requested_by: str
    ) -> dict[str, str]:
        """Each row's outcome as enrollment applied it, by credential id."""
        operation_id, now = new_id(), self.clock.now()
        sent = [e.model_copy(update={"correlation_id": operation_id}) for e in events]
        waits = {}
        for event in sent:
            waits.update(awaiting(streams.AUTHENTICATOR_IMPORTED, event, now, event.credential_id))
        await self.operations.start_rows(
            operation_id, now, waits, organization_id=organization_id, requested_by=requested_by
        )
        for event in sent:
            await self.publish(event)

        async def all_applied() -> bool | None:
            return True if await self.operations.rows_applied(operation_id) >= len(sent) else None

        if sent and not await self.feed.wait_for(operation_id, all_applied, within=self.timeout):
            raise NotAppliedInTime({"enrollment"})
        await self.audit.record(
            AuditEvent(
                organization_id,
                self.clock.now(),
                "authenticators_imported",
                "import",
                f"{len(sent)} authenticators imported",
                requested_by,
                source=operation_id,
            )
        )
        return await self.operations.row_outcomes(operation_id) if sent else {}


def _as_applied(planned: Planned, outcomes: Mapping[str, str]) -> Planned:
    """A row as applied: what the dry run showed, unless the user changed meanwhile
    (signed in with an app of their own, or this secret was imported by a file before)."""
    if planned.outcome not in IMPORTED:
        return planned
    applied = outcomes.get(f"{IMPORTED_PREFIX}{planned.fingerprint}")
    skipped = next((o for o in ("unchanged", "has_authenticator") if o == applied), None)
    if skipped is None:
        return planned
    return replace(planned, outcome=skipped, detail="changed while it was applied")


def _canonical(user_id: str) -> str:
    try:
        return canonical_user_id(user_id)
    except InvalidId:
        return ""
