"""The two streams every login crosses, taken a batch at a time (issue 22).

One XREADGROUP brings up to ``MFA_BATCH_SIZE`` decisions or enrollment answers. Their
writes go to the database in one request per kind: the users' records, the
authenticators' view, and the logins asked for a code. What follows each (waking the
waiting request, telling the other replicas, the log line) is as for a single event.
Should any login not have been asked (it was not pending: a remembered device, a late
copy), every login of the batch is asked again on its own, which changes nothing for
those already asked and lets the single path tell the cases apart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services.gateway.events.handlers import GatewayHandlers, ask_of, code_audit
from services.gateway.stores.read_models import Issued, Verified
from shared.events import CodeVerified, EnrollmentIssued, LoginDecided
from shared.messaging import in_order_per_key


@dataclass(frozen=True)
class GatewayBatches:
    handlers: GatewayHandlers

    async def on_logins_decided(self, events: list[LoginDecided]) -> None:
        await self.handlers.users.decided_many(events)
        await asyncio.gather(*(self.handlers.decision_recorded(e) for e in events))

    async def on_enrollments_issued(self, events: list[EnrollmentIssued]) -> None:
        handlers = self.handlers
        await handlers.authenticators.issued_many(
            [
                Issued(e.user, e.credential_id, e.credential_created_at, e.confirmed_at)
                for e in events
            ]
        )
        time = handlers.enrollment_time
        locks = await handlers.authenticators.locks_of(
            [e.user for e in events], handlers.clock.now()
        )
        asks = [(e, ask) for e in events if (ask := ask_of(e, time, locks)) is not None]
        if await handlers.logins.ask_many([(e.login_id, ask) for e, ask in asks]):
            await asyncio.gather(*(handlers.asked(e, ask, True) for e, ask in asks))
            return
        await in_order_per_key(asks, lambda pair: pair[0].login_id, lambda p: handlers.ask(*p))

    async def on_codes_verified(self, events: list[CodeVerified]) -> None:
        """App codes that confirm nothing and issue nothing (a daily login's): the
        logins, the authenticators' view and the audit rows, each in one request.
        Everything else (a first code, a recovery code, a passkey) as on its own."""
        handlers = self.handlers
        daily = [e for e in events if _daily(e)]
        accepted = [(e.login_id, e.user, e.submission_id) for e in daily]
        # Each write matched: this replica's waiting requests get the answer in memory.
        authenticated = await handlers.logins.codes_accepted(accepted)
        if not authenticated:
            for login_id, user, submission_id in accepted:  # which one ended, one by one
                await handlers.logins.code_accepted(login_id, user, submission_id)
        for event in daily:
            handlers.login_answered(event.login_id)
        await handlers.authenticators.codes_verified([_verified(e) for e in daily])
        await handlers.audit.record_many([code_audit(e) for e in daily])
        await asyncio.gather(*(handlers.code_answered(e, authenticated) for e in daily))
        others = [e for e in events if not _daily(e)]
        await in_order_per_key(others, lambda e: e.login_id, handlers.on_code_verified)


def _daily(event: CodeVerified) -> bool:
    return (
        event.kind == "totp" and not event.confirms_authenticator and event.recovery_codes is None
    )


def _verified(event: CodeVerified) -> Verified:
    facts = {"step_offset": event.step_offset, "recovery_codes_left": event.recovery_codes_left}
    known = {k: v for k, v in facts.items() if v is not None}
    return Verified(event.user, event.credential_id, event.occurred_at, known)
