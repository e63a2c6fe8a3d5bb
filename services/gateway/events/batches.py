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

from services.gateway.events.handlers import GatewayHandlers, ask_of
from services.gateway.stores.read_models import Issued
from shared.events import EnrollmentIssued, LoginDecided
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
        asks = [(e, ask) for e in events if (ask := ask_of(e)) is not None]
        if await handlers.logins.ask_many([(e.login_id, ask) for e, ask in asks]):
            await asyncio.gather(*(handlers.asked(e, ask, True) for e, ask in asks))
            return
        await in_order_per_key(asks, lambda pair: pair[0].login_id, lambda p: handlers.ask(*p))
