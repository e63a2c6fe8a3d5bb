"""What a user may do right after passing a code: get new recovery codes, have the
device remembered, and forget a remembered device."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from services.gateway.domain.login import Login, may_take_recovery_codes, passed_a_code
from services.gateway.events.change_feed import ChangeFeed
from services.gateway.events.notices import Notices
from services.gateway.events.outbox import awaiting
from services.gateway.stores.devices import IssuedDevice, RememberedDevices
from services.gateway.stores.logins import LoginStore
from services.gateway.stores.read_models import PolicyView
from services.gateway.use_cases.errors import NotAppliedInTime, Refused
from services.gateway.use_cases.login import LoginFlow, Publish
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox, recovery_codes_context
from shared.events import RecoveryCodesRequested

DEVICE_NOTICES = uuid.UUID("0f6d2b8e-4c1a-4e57-9d3b-7a2e5c9f1b64")


def _remembering_off() -> Refused:
    return Refused("remembering_off", "This organization's policy does not remember devices.")


def _not_now() -> Refused:
    return Refused(
        "code_not_passed",
        "Only right after a code was accepted for this login (before it expires).",
    )


@dataclass(frozen=True)
class SelfService:
    flow: LoginFlow
    logins: LoginStore
    devices: RememberedDevices
    policy: PolicyView
    feed: ChangeFeed
    clock: Clock
    box: SecretBox
    publish_request: Publish
    notices: Notices
    timeout: float

    async def take_recovery_codes(
        self, login: Login, caller: str, *, answer_lost: bool = False
    ) -> list[str] | None:
        """The recovery codes waiting in this login, the first time ``caller`` asks, if
        they were issued by its own code or request; ``answer_lost``: only those whose
        answer timed out (domain.may_take_recovery_codes)."""
        issued_for = login.recovery_codes_for
        if issued_for is None or not may_take_recovery_codes(
            login, caller, answer_lost=answer_lost
        ):
            return None
        sealed = await self.logins.take_recovery_codes(login.login_id, issued_for)
        if sealed is None:
            return None
        context = recovery_codes_context(login.login_id)
        return list(json.loads(self.box.open(sealed, context)))

    async def new_recovery_codes(
        self, login_id: str, organization_id: str, caller: str
    ) -> list[str]:
        """A new set for the user who just passed a code sent by ``caller`` (an API key
        or a browser session), shown to that caller only; the old set stops working."""
        login = await self._passed(login_id, organization_id, caller)
        if login.credential_id is None:
            raise _not_now()
        now = self.clock.now()
        request = RecoveryCodesRequested(
            occurred_at=now,
            correlation_id=login_id,
            organization_id=login.organization_id,
            user_id=login.user_id,
            login_id=login_id,
            credential_id=login.credential_id,
        )
        waits = awaiting(streams.RECOVERY_CODES_REQUESTED, request, now, "recovery")
        request_id = str(request.event_id)
        await self.logins.recovery_codes_requested(login_id, waits, request_id, caller)

        async def answered() -> Login | None:
            current = await self.logins.get(login_id)
            answer = current and current.recovery_answer
            return current if answer == request_id else None

        with self.feed.watch(login_id) as watch:  # before sending: the answer is not missed
            await self.publish_request(request)
            issued = await watch.until(answered, self.timeout, probe_now=False)
            if issued is None:
                await self.logins.answer_lost(login_id, request_id)
                raise NotAppliedInTime({"verification"})
        codes = await self.take_recovery_codes(issued, caller)
        if codes is None:  # the authenticator was reset meanwhile
            raise _not_now()
        return codes

    async def remember_device(
        self, login_id: str, organization_id: str, caller: str
    ) -> IssuedDevice:
        """A device token for the user who just passed a code sent by ``caller``, if the
        organization's policy remembers devices; one per login."""
        login = await self._passed(login_id, organization_id, caller)
        days = (await self.policy.current(organization_id)).rules.remember_device_days
        if days == 0:
            raise _remembering_off()
        if login.credential_id is None or not await self.logins.device_remembered(login_id):
            raise Refused("device_already_remembered", "This login's device is remembered.")
        issued = await self.devices.remember(
            login.user, login.credential_id, self.clock.now(), days
        )
        if (await self.policy.current(organization_id)).rules.remember_device_days == 0:
            # Turned off while this token was made: the purge may have run before it.
            await self.devices.revoke(issued.token, organization_id)
            raise _remembering_off()
        # Once per login (device_remembered above): the notice's id comes from the
        # login's, which itself stays off the notice stream.
        await self.notices.send(
            "device_remembered",
            login.user,
            login.email,
            str(uuid.uuid5(DEVICE_NOTICES, login_id)),
            remembered_until=issued.expires_at,
        )
        return issued

    async def forget_device(self, token: str, organization_id: str) -> bool:
        return await self.devices.revoke(token, organization_id)

    async def _passed(self, login_id: str, organization_id: str, caller: str) -> Login:
        login = await self.flow.find(login_id, organization_id)
        if not passed_a_code(login, self.clock.now(), caller):
            raise _not_now()
        return login
