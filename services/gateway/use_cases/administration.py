"""The admin's use cases: the policy, and each user's authenticator (reset, unlock,
remembered devices) and the organization's coverage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from services.gateway.domain.coverage import UserCoverage, coverage_of, csv_header, csv_line
from services.gateway.domain.snapshots import AuthenticatorRecord, PasskeyRecord, PolicySnapshot
from services.gateway.events.change_feed import ChangeFeed
from services.gateway.events.notices import Notices
from services.gateway.events.outbox import awaiting
from services.gateway.presentation.wording import policy_change
from services.gateway.stores.audit import AuditEvent, AuditLog
from services.gateway.stores.devices import RememberedDevices
from services.gateway.stores.logins import LoginStore
from services.gateway.stores.operations import OperationStore
from services.gateway.stores.read_models import AuthenticatorView, PolicyView, UserView
from services.gateway.use_cases.errors import (
    NotAppliedInTime,
    PasskeyNotFound,
    PolicyConflict,
    Refused,
)
from services.gateway.use_cases.login import Publish, new_id
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox, resync_context
from shared.events import (
    AuthenticatorReset,
    AuthenticatorUnlocked,
    PasskeysRemoved,
    PolicyRules,
    PolicyUpdated,
    RelyingParty,
    TokenResynced,
)
from shared.identity import UserRef

RESET_OWNERS = ("enrollment", "verification")  # the services that hold an authenticator
UserOperation = TypeVar(
    "UserOperation", AuthenticatorReset, AuthenticatorUnlocked, PasskeysRemoved, TokenResynced
)


@dataclass(frozen=True)
class AdminFlow:
    logins: LoginStore
    operations: OperationStore
    policy_view: PolicyView
    authenticators: AuthenticatorView
    users: UserView
    devices: RememberedDevices
    notices: Notices
    feed: ChangeFeed
    clock: Clock
    audit: AuditLog
    publish_policy: Publish
    publish_reset: Publish
    publish_unlock: Publish
    publish_removal: Publish
    publish_resync: Publish
    box: SecretBox
    timeout: float
    default_party: RelyingParty | None = None  # MFA_WEBAUTHN_RP_ID, where a policy names none

    async def policy(self, organization_id: str) -> PolicySnapshot:
        return await self.policy_view.current(organization_id)

    async def policy_versions(self, organization_id: str) -> list[PolicySnapshot]:
        return await self.policy_view.versions(organization_id)

    async def replace_policy(
        self,
        organization_id: str,
        rules: PolicyRules,
        requested_by: str,
        expected_version: int | None = None,
    ) -> PolicySnapshot:
        """Save the organization's policy: over any version, or only over
        ``expected_version`` (the one the editor saw), else PolicyConflict."""
        self._passkeys_can_work(rules)
        operation_id, now = new_id(), self.clock.now()
        update = PolicyUpdated(
            occurred_at=now,
            correlation_id=operation_id,
            organization_id=organization_id,
            policy=rules,
            requested_by=requested_by,
            expected_version=expected_version,
        )
        await self.operations.start(
            operation_id,
            "policy",
            now,
            awaiting(streams.POLICY_UPDATED, update, now, "policy"),
            organization_id=organization_id,
            requested_by=requested_by,
        )
        await self.publish_policy(update)
        await self._until_applied(operation_id, {"policy"})
        current = await self.policy_view.current(organization_id)
        if (await self.operations.result(operation_id)).get("conflict"):
            seen = await self.policy_view.at_version(organization_id, expected_version or 0)
            seen_fields = seen.fields() if seen else None
            raise PolicyConflict(policy_change(seen_fields, current.fields()), current)
        return current

    async def reset_authenticator(self, user: UserRef, requested_by: str) -> None:
        reset = await self._user_operation(
            "reset",
            AuthenticatorReset,
            streams.AUTHENTICATOR_RESET,
            RESET_OWNERS,
            user,
            requested_by,
        )
        operation_id = reset.correlation_id
        # A clean cut: no login started before the reset completes may authenticate, even
        # with a code the old authenticator produced and verification checked meanwhile.
        await self.logins.cut_off(user, self.clock.now())
        await self.publish_reset(reset)
        try:
            await self._until_applied(operation_id, set(RESET_OWNERS))
        finally:  # logins started while the owners forgot were shown the old credential
            await self.logins.cut_off(user, self.clock.now())
            await self.authenticators.forget(user)
            await self.devices.revoke_all(user)
        await self._audit(
            user,
            "authenticator_reset",
            "old secret, recovery codes and remembered devices retired; "
            "next sign-in shows a new QR",
            requested_by,
            operation_id,
        )
        email = await self.users.email_of(user)
        await self.notices.send("authenticator_reset", user, email, operation_id)

    async def unlock(self, user: UserRef, requested_by: str) -> None:
        """End the user's lock (and its escalation) without a reset; audited."""
        unlock = await self._user_operation(
            "unlock",
            AuthenticatorUnlocked,
            streams.AUTHENTICATOR_UNLOCKED,
            ("verification",),
            user,
            requested_by,
        )
        operation_id = unlock.correlation_id
        await self.publish_unlock(unlock)
        await self._until_applied(operation_id, {"verification"})
        await self.authenticators.lock_changed(user, None)
        await self.logins.unlock_open_logins_of(user)
        await self._audit(user, "authenticator_unlocked", "lock ended", requested_by, operation_id)

    def _passkeys_can_work(self, rules: PolicyRules) -> None:
        """A policy that requires passkeys names where they work, or the deployment does.
        (Without one, passkeys are not offered; those users hold keep working where
        they were made: enrollment keeps each user's relying party.)"""
        if rules.requires_any_passkey and not (rules.relying_party or self.default_party):
            raise Refused(
                "no_relying_party",
                "Requiring passkeys needs a relying party: set its RP ID and sign-in addresses.",
            )

    async def passkeys(self, user: UserRef) -> tuple[PasskeyRecord, ...]:
        record = await self.authenticators.get(user)
        return record.passkeys if record else ()

    async def remove_passkey(self, user: UserRef, passkey_id: str, requested_by: str) -> None:
        """Remove one of the user's passkeys, once both services that hold it forgot it;
        never the user's last authenticator (a reset does that, and registration starts
        over)."""
        claim, now = new_id(), self.clock.now()
        lapses = now + timedelta(seconds=3 * self.timeout)
        if not await self.authenticators.claim_removal(user, claim, now, lapses):
            if await self.authenticators.get(user) is None:
                raise PasskeyNotFound(passkey_id)
            raise Refused("conflict", "Another passkey of this user is being removed: try again.")
        try:
            await self._remove(user, passkey_id, requested_by)
        finally:
            await self.authenticators.release_removal(user, claim)

    async def _remove(self, user: UserRef, passkey_id: str, requested_by: str) -> None:
        record = await self.authenticators.get(user)  # read under the claim: nobody else removes
        if record is None or passkey_id not in {p.passkey_id for p in record.passkeys}:
            raise PasskeyNotFound(passkey_id)
        if not record.may_remove({passkey_id}, await self._must_use_passkey(user)):
            raise Refused(
                "last_authenticator",
                "This is the last authenticator the user may sign in with: reset it instead, "
                "and the next sign-in registers a new one.",
            )
        removal = await self._user_operation(
            "passkey_removal",
            PasskeysRemoved,
            streams.PASSKEYS_REMOVED,
            RESET_OWNERS,
            user,
            requested_by,
            passkey_ids=(passkey_id,),
        )
        await self.publish_removal(removal)
        try:
            await self._until_applied(removal.correlation_id, set(RESET_OWNERS))
        finally:  # sent, and sent again until applied: it is gone, for the next removal too
            await self.authenticators.passkeys_removed(user, (passkey_id,))
        await self._audit(
            user, "passkey_removed", "one passkey removed", requested_by, removal.correlation_id
        )

    async def _must_use_passkey(self, user: UserRef) -> bool:
        rules = (await self.policy_view.current(user.organization_id)).rules
        seen = await self.users.seen_as(user)
        user_type, email = seen or ("", "")
        return rules.requires_passkey_of(user_type, rules.lists_for_passkey(user.user_id, email))

    async def resync_token(self, user: UserRef, first: str, second: str, requested_by: str) -> None:
        """Move the user's HOTP token's counter to two consecutive codes it shows now (a
        token pressed far ahead of its look-ahead); Refused if it is no token, or if
        the codes match no two counters ahead."""
        operation_id = new_id()
        codes = self.box.seal(json.dumps([first, second]), resync_context(user, operation_id))
        resynced = await self._user_operation(
            "resync",
            TokenResynced,
            streams.TOKEN_RESYNCED,
            ("verification",),
            user,
            requested_by,
            operation_id=operation_id,
            codes=codes,
        )
        await self.publish_resync(resynced)
        await self._until_applied(operation_id, {"verification"})
        outcome = (await self.operations.result(operation_id)).get("outcome")
        if outcome != "resynced":
            raise Refused(
                "no_match",
                "The user holds no token"
                if outcome == "not_a_token"
                else "The two codes are not consecutive codes of the user's token ahead of "
                "its counter: press it twice more and send the two new codes.",
            )
        await self._audit(
            user, "token_resynced", "HOTP token resynchronised", requested_by, operation_id
        )

    async def revoke_devices(self, user: UserRef, requested_by: str) -> int:
        revoked = await self.devices.revoke_all(user)
        await self._audit(
            user, "devices_revoked", f"{revoked} remembered devices revoked", requested_by, new_id()
        )
        return revoked

    async def remembered_devices(self, user: UserRef) -> int:
        return await self.devices.count(user, self.clock.now())

    async def coverage_page(
        self, organization_id: str, search: str = "", after: str = "", limit: int = 50
    ) -> list[UserCoverage]:
        users = await self.users.page(organization_id, search, after, limit)
        found = await self.authenticators.many(
            [UserRef(organization_id, u["user_id"]).key for u in users]
        )
        now = self.clock.now()
        return [
            coverage_of(u, found.get(UserRef(organization_id, u["user_id"]).key), now)
            for u in users
        ]

    async def coverage(self, organization_id: str, search: str = "") -> AsyncIterator[UserCoverage]:
        """Every user the search matches, page by page, in user id order."""
        after = ""
        while page := await self.coverage_page(organization_id, search, after, limit=500):
            for user in page:
                yield user
            after = page[-1].user_id

    async def coverage_csv(self, organization_id: str, search: str = "") -> AsyncIterator[str]:
        """The same users as CSV lines, the header first (streamed: never all in memory)."""
        yield csv_header()
        async for user in self.coverage(organization_id, search):
            yield csv_line(user)

    async def _user_operation(
        self,
        kind: str,
        event_type: type[UserOperation],
        stream: str,
        owners: tuple[str, ...],
        user: UserRef,
        requested_by: str,
        operation_id: str | None = None,
        **fields: Any,
    ) -> UserOperation:
        """An admin operation on one user's authenticator, recorded with the event each
        owner is to confirm (the outbox sends it again should Redis lose it)."""
        operation_id, now = operation_id or new_id(), self.clock.now()
        event = event_type(
            occurred_at=now,
            correlation_id=operation_id,
            organization_id=user.organization_id,
            user_id=user.user_id,
            requested_by=requested_by,
            **fields,
        )
        await self.operations.start(
            operation_id,
            kind,
            now,
            awaiting(stream, event, now, *owners),
            organization_id=user.organization_id,
            user_id=user.user_id,
            requested_by=requested_by,
        )
        return event

    async def _audit(
        self, user: UserRef, kind: str, detail: str, requested_by: str, source: str
    ) -> None:
        await self.audit.record(
            AuditEvent(
                user.organization_id,
                self.clock.now(),
                kind,
                user.user_id,
                detail,
                requested_by,
                source=source,
            )
        )

    async def authenticator(self, user: UserRef) -> AuthenticatorRecord | None:
        return await self.authenticators.get(user)

    async def _until_applied(self, operation_id: str, owners: set[str]) -> None:
        async def all_applied() -> bool | None:
            return True if owners <= await self.operations.applied_by(operation_id) else None

        if not await self.feed.wait_for(operation_id, all_applied, within=self.timeout):
            raise NotAppliedInTime(owners - await self.operations.applied_by(operation_id))
