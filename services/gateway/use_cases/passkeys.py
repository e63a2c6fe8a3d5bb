"""A signed-in user's passkeys: listed, one more added, one removed. "Signed in" is a
login whose code or passkey this caller just passed (domain.login.passed_a_code), as for
new recovery codes; a removal runs as the admin's does, by both owning services."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.domain.login import Login, passed_a_code
from services.gateway.domain.snapshots import PasskeyRecord
from services.gateway.events.change_feed import ChangeFeed
from services.gateway.events.outbox import awaiting
from services.gateway.stores.logins import LoginStore
from services.gateway.stores.organizations import Organizations
from services.gateway.stores.read_models import PolicyView
from services.gateway.use_cases.administration import AdminFlow
from services.gateway.use_cases.errors import NotAppliedInTime, Refused
from services.gateway.use_cases.login import CodeResult, LoginFlow, Publish
from shared import streams
from shared.clock import Clock
from shared.events import PasskeyRegistrationRequested, RelyingParty

REFUSED = {
    "too_many_passkeys": "You hold 10 passkeys, the most there may be: remove one first.",
    "no_authenticator": "Your authenticator changed (it was reset): sign in again.",
}


def _not_now() -> Refused:
    return Refused(
        "code_not_passed",
        "Only right after a code or passkey was accepted for this login (before it expires).",
    )


@dataclass(frozen=True)
class PasskeyService:
    flow: LoginFlow
    logins: LoginStore
    admin: AdminFlow
    policy: PolicyView
    organizations: Organizations
    feed: ChangeFeed
    clock: Clock
    publish_request: Publish
    default_party: RelyingParty | None  # MFA_WEBAUTHN_RP_ID, where a policy names none
    timeout: float

    async def offered(self, organization_id: str) -> bool:
        """Whether the organization's users may add passkeys."""
        rules = (await self.policy.current(organization_id)).rules
        return "passkey" in rules.allowed_kinds and bool(rules.relying_party or self.default_party)

    async def passkeys(
        self, login_id: str, organization_id: str, caller: str
    ) -> tuple[PasskeyRecord, ...]:
        login = await self._passed(login_id, organization_id, caller)
        return await self.admin.passkeys(login.user)

    async def begin(self, login_id: str, organization_id: str, caller: str) -> str:
        """Registration options for one more passkey (CreationOptionsJSON), from
        enrollment; its challenge lives with the user's authenticator, for this login."""
        login = await self._passed(login_id, organization_id, caller)
        rules = (await self.policy.current(organization_id)).rules
        party = rules.relying_party or self.default_party
        if party is None or "passkey" not in rules.allowed_kinds or login.credential_id is None:
            raise Refused("no_relying_party", "This organization does not use passkeys.")
        organization = await self.organizations.get(organization_id)
        now = self.clock.now()
        request = PasskeyRegistrationRequested(
            occurred_at=now,
            correlation_id=login_id,
            organization_id=organization_id,
            user_id=login.user_id,
            login_id=login_id,
            credential_id=login.credential_id,
            relying_party=party,
            user_verification=rules.user_verification,
            issuer=organization.issuer if organization else None,
        )
        request_id = str(request.event_id)
        waits = awaiting(streams.PASSKEY_REGISTRATION_REQUESTED, request, now, "addition")
        await self.logins.registration_requested(login_id, waits, request_id, caller)

        async def answered() -> Login | None:
            current = await self.logins.get(login_id)
            return current if current and current.addition_answer == request_id else None

        with self.feed.watch(login_id) as watch:  # before sending: the answer is not missed
            await self.publish_request(request)
            opened = await watch.until(answered, self.timeout, probe_now=False)
        if opened is None:
            await self.logins.answer_lost(login_id, request_id)
            raise NotAppliedInTime({"enrollment"})
        if opened.passkey_addition is None:
            refused = opened.addition_refused or "no_authenticator"
            raise Refused(refused, REFUSED.get(refused, REFUSED["no_authenticator"]))
        return opened.passkey_addition

    async def add(
        self, login_id: str, organization_id: str, caller: str, answer: str
    ) -> CodeResult:
        """The browser's attestation for the options ``begin`` gave this login."""
        login = await self._passed(login_id, organization_id, caller)
        if login.passkey_addition is None:
            raise Refused("code_not_passed", "Ask for the passkey options of this login first.")
        return await self.flow.add_passkey(login, answer, caller)

    async def remove(
        self, login_id: str, organization_id: str, caller: str, passkey_id: str
    ) -> tuple[PasskeyRecord, ...]:
        login = await self._passed(login_id, organization_id, caller)
        await self.admin.remove_passkey(login.user, passkey_id, f"user:{login.email}")
        return await self.admin.passkeys(login.user)

    async def _passed(self, login_id: str, organization_id: str, caller: str) -> Login:
        """The login, if ``caller`` just passed it with the authenticator the user holds
        now: a sign-in from before a reset changes nothing of the new one."""
        login = await self.flow.find(login_id, organization_id)
        if not passed_a_code(login, self.clock.now(), caller):
            raise _not_now()
        held = await self.admin.authenticators.get(login.user)
        if held is None or held.credential_id != login.credential_id:
            raise _not_now()
        return login
