"""What the gateway does with the events it consumes: update its store, wake waiters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from services.gateway.domain.login import Ask, CodeOutcome, CodePassed, PassedBy, PendingEnrollment
from services.gateway.events.change_feed import ChangeFeed
from services.gateway.events.notices import Notices
from services.gateway.stores.audit import AuditEvent
from services.gateway.stores.ports import (
    AuditTrail,
    AuthenticatorRecords,
    DeviceRecords,
    LoginAnswers,
    OperationAnswers,
    PolicyRecords,
    UserRecords,
)
from shared import streams
from shared.clock import Clock
from shared.events import (
    AuthenticatorImportApplied,
    AuthenticatorResetApplied,
    CodeRejected,
    CodeVerified,
    CredentialRegistered,
    EnrollmentIssued,
    LoginDecided,
    NoticeKind,
    PasskeyChallenged,
    PasskeyRegistrationOpened,
    PolicyApplied,
    RecoveryCodesIssued,
    UserEvent,
)

log = structlog.get_logger("mfa.gateway")

PASSED_BY: dict[str, PassedBy] = {
    "totp": "code",
    "recovery_code": "recovery_code",
    "passkey": "passkey",
}


@dataclass(frozen=True)
class GatewayHandlers:
    logins: LoginAnswers
    operations: OperationAnswers
    policy: PolicyRecords
    authenticators: AuthenticatorRecords
    users: UserRecords
    devices: DeviceRecords
    notices: Notices
    feed: ChangeFeed
    audit: AuditTrail
    clock: Clock
    announce: Callable[[str], Awaitable[None]]  # tells every replica that a key changed
    enrollment_time: timedelta = timedelta(minutes=15)  # an enrolling login stays open so long
    # An answer to an event the login awaited is stored: redelivery.py need not look.
    login_answered: Callable[[str], None] = lambda login_id: None

    async def on_login_decided(self, event: LoginDecided) -> None:
        # A code is asked for when enrollment answers (ask_for_code sets the status and
        # mfa_required in one write): until then nothing changes, nobody is woken.
        await self.users.decided(event)
        await self.decision_recorded(event)

    async def decision_recorded(self, event: LoginDecided) -> None:
        """The rest of a decision, once the user's record has it (alone or in a batch)."""
        if not event.mfa_required:
            await self.logins.needs_no_code(event.login_id)
            self.login_answered(event.login_id)
            await self._changed(event.login_id)
        log.info(
            "login_decided",
            login_id=event.login_id,
            stream=streams.LOGIN_DECIDED,
            outcome=event.reason,
        )

    async def on_enrollment_issued(self, event: EnrollmentIssued) -> None:
        await self.authenticators.issued(
            event.user, event.credential_id, event.credential_created_at, event.confirmed_at
        )
        locks = await self.authenticators.locks_of([event.user], self.clock.now())
        if (ask := ask_of(event, self.enrollment_time, locks)) is not None:
            await self.ask(event, ask)

    async def on_passkey_challenged(self, event: PasskeyChallenged) -> None:
        locks = await self.authenticators.locks_of([event.user], self.clock.now())
        ask = Ask(
            event.credential_id,
            event.kinds,
            passkey_authentication=event.passkey_authentication,
            locked_until=locks.get(event.user.key),
            digits=event.totp.digits,
            period=event.totp.period,
        )
        await self.ask(event, ask)

    async def ask(self, event: EnrollmentIssued | PasskeyChallenged, ask: Ask) -> None:
        await self.asked(event, ask, await self.logins.ask_for_code(event.login_id, ask))

    async def asked(
        self, event: EnrollmentIssued | PasskeyChallenged, ask: Ask, asked: bool
    ) -> None:
        """The rest of asking a login for a code (``asked``: the write matched); a
        login that was not pending may be one a remembered device passes."""
        state = event.state if isinstance(event, EnrollmentIssued) else "enrolled"
        remembered = (
            not asked
            and ask.enrollment is None
            and await self.logins.pass_remembered(event.login_id, ask.credential_id)
        )
        self.login_answered(event.login_id)
        if remembered:
            await self._audit(event, "remembered_device_used", "code skipped: remembered device")
        await self._changed(event.login_id, ask if asked else None)
        log.info(
            "code_requested",
            login_id=event.login_id,
            outcome="remembered_device" if remembered else state,
            kinds=",".join(ask.kinds),
        )

    async def on_code_verified(self, event: CodeVerified) -> None:
        recovery = event.kind == "recovery_code"
        passkey = event.kind == "passkey"
        await self.logins.code_accepted(
            event.login_id,
            event.user,
            event.submission_id,
            PASSED_BY[event.kind],
            event.recovery_codes,
        )
        self.login_answered(event.login_id)
        await self.authenticators.code_verified(
            event.user,
            event.credential_id,
            event.occurred_at,
            confirms=event.confirms_authenticator,
            app=event.kind == "totp",
            # One more passkey added by a signed-in user proves nothing against a lock.
            ends_lock=not (passkey and event.purpose == "enrollment")
            or event.confirms_authenticator,
            step_offset=event.step_offset,
            recovery_codes_left=event.recovery_codes_left,
        )
        if event.passkey_id is not None:
            await self.authenticators.passkey_used(event.user, event.passkey_id, event.occurred_at)
        if recovery:
            left = event.recovery_codes_left
            await self._audit(event, "recovery_code_used", f"recovery code used, {left} left")
            await self._notify("recovery_code_used", event, recovery_codes_left=left)
        elif passkey:
            registered = event.purpose == "enrollment"
            await self._audit(
                event,
                "passkey_registered" if registered else "passkey_used",
                "passkey registered" if registered else "passkey accepted",
            )
            if registered:
                await self._notify("passkey_registered", event)
        else:
            await self.audit.record(code_audit(event))
        if event.confirms_authenticator:
            # The user's other logins that showed the same QR ask for a code now: the
            # secret is shown no more, and confirming again would change nothing.
            await self.logins.enrollment_confirmed(event.user, event.credential_id, passkey)
            await self._notify("authenticator_confirmed", event)
        await self.code_answered(event)

    async def code_answered(self, event: CodeVerified, authenticated: bool = False) -> None:
        """The waiting request woken, on this replica and the others (``authenticated``:
        the write authenticated the login, which this replica's request need not read)."""
        passed = CodePassed(event.submission_id) if authenticated else None
        await self._changed(event.login_id, passed)
        log.info(
            "login_authenticated",
            login_id=event.login_id,
            stream=streams.CODE_VERIFIED,
            outcome="authenticated",
            purpose=event.purpose,
        )

    async def on_credential_registered(self, event: CredentialRegistered) -> None:
        """A passkey registered: listed for the user and the admin (an app's secret is
        listed by its enrollment, and is never the gateway's)."""
        if event.passkey is not None:
            await self.authenticators.passkey_registered(
                event.user, event.credential_id, event.passkey
            )

    async def on_import_applied(self, event: AuthenticatorImportApplied) -> None:
        if event.outcome == "imported" and event.created_at is not None:
            await self.authenticators.imported(
                event.user, event.credential_id, event.created_at, event.confirmed
            )
            await self._audit(event, "authenticator_imported", "authenticator imported")
            await self._notify("authenticator_imported", event)
        await self.operations.row_applied(
            event.correlation_id, event.credential_id, self.clock.now(), event.outcome
        )
        await self._changed(event.correlation_id)
        log.info(
            "import_applied",
            operation_id=event.correlation_id,
            stream=streams.AUTHENTICATOR_IMPORT_APPLIED,
            outcome=event.outcome,
        )

    async def on_registration_opened(self, event: PasskeyRegistrationOpened) -> None:
        await self.logins.registration_opened(
            event.login_id, str(event.request_id), event.passkey_registration, event.refused
        )
        self.login_answered(event.login_id)
        await self._changed(event.login_id)

    async def on_code_rejected(self, event: CodeRejected) -> None:
        await self.logins.code_refused(
            event.login_id,
            event.submission_id,
            CodeOutcome(False, event.reason, event.attempts_left, event.locked_until),
        )
        self.login_answered(event.login_id)
        if event.locked_until:
            await self.authenticators.lock_changed(event.user, event.locked_until)
        lock = f", locked until {event.locked_until:%H:%M} UTC" if event.locked_until else ""
        await self.audit.record(
            AuditEvent(
                event.organization_id,
                event.occurred_at,
                "code_rejected",
                event.user_id,
                f"{event.reason} {_answer_word(event)}{_left(event.attempts_left)}{lock}",
                source=str(event.event_id),
            )
        )
        if event.locked_now:
            await self._notify("locked", event, locked_until=event.locked_until)
        if event.reason == "possibly_cloned":
            await self._notify("passkey_possibly_cloned", event)
        await self._changed(event.login_id)
        # Security-relevant: a wrong code, and above all the one that locks a user.
        log.warning(
            "code_rejected",
            login_id=event.login_id,
            stream=streams.CODE_REJECTED,
            outcome=event.reason,
            attempts_left=event.attempts_left,
        )
        if event.locked_now:
            log.warning("user_locked", login_id=event.login_id, locked_until=event.locked_until)

    async def on_policy_applied(self, event: PolicyApplied) -> None:
        if not event.conflict:  # a refused update changed nothing to show or audit
            await self._policy_changed(event)
        await self.operations.applied(
            event.correlation_id,
            "policy",
            self.clock.now(),
            version=event.version,
            conflict=event.conflict,
        )
        await self._changed(event.correlation_id)
        log.info(
            "policy_applied",
            operation_id=event.correlation_id,
            stream=streams.POLICY_APPLIED,
            outcome="conflict" if event.conflict else "applied",
            version=event.version,
        )

    async def _policy_changed(self, event: PolicyApplied) -> None:
        await self.policy.apply(event)
        rules = event.policy
        if rules.remember_device_days == 0:  # "never": tokens issued before stop for good
            await self.devices.forget_organization(event.organization_id)
        await self.audit.record(
            AuditEvent(
                event.organization_id,
                event.occurred_at,
                "policy_changed",
                "policy",
                f"version {event.version}: all users {'on' if rules.all_users else 'off'}; "
                f"types {', '.join(rules.user_types) or 'none'}; {len(rules.users)} listed users",
                event.requested_by,
                source=str(event.event_id),
            )
        )

    async def on_reset_applied(self, event: AuthenticatorResetApplied) -> None:
        result = {"outcome": event.outcome} if event.outcome else {}
        await self.operations.applied(
            event.correlation_id, event.service, self.clock.now(), **result
        )
        await self._changed(event.correlation_id)
        log.info(
            "reset_applied",
            operation_id=event.correlation_id,
            stream=streams.AUTHENTICATOR_RESET_APPLIED,
            outcome=event.service,
        )

    async def on_recovery_codes_issued(self, event: RecoveryCodesIssued) -> None:
        await self.logins.recovery_codes_issued(
            event.login_id, str(event.request_id), event.recovery_codes
        )
        self.login_answered(event.login_id)
        if event.recovery_codes is not None:
            await self.authenticators.recovery_codes_issued(
                event.user, event.credential_id, event.recovery_codes_left
            )
            await self._audit(event, "recovery_codes_renewed", "new recovery codes; old ones void")
            await self._notify(
                "recovery_codes_issued", event, recovery_codes_left=event.recovery_codes_left
            )
        await self._changed(event.login_id)
        log.info(
            "recovery_codes_issued",
            login_id=event.login_id,
            stream=streams.RECOVERY_CODES_ISSUED,
            outcome="issued" if event.recovery_codes else "no_credential",
        )

    async def _audit(self, event: UserEvent, kind: str, detail: str) -> None:
        await self.audit.record(
            AuditEvent(
                event.organization_id,
                event.occurred_at,
                kind,
                event.user_id,
                detail,
                source=str(event.event_id),  # one row per event: recorded once
            )
        )

    async def _notify(self, kind: NoticeKind, event: UserEvent, **facts: Any) -> None:
        email = await self.users.email_of(event.user)
        await self.notices.send(kind, event.user, email, str(event.event_id), **facts)

    async def on_changed(self, key: str) -> None:
        self.feed.notify(key)

    async def _changed(self, key: str, handed: object | None = None) -> None:
        self.feed.notify(key, handed)
        await self.announce(key)


def _answer_word(event: CodeRejected) -> str:
    if event.kind != "passkey":
        return "code"
    return "passkey registration" if event.attempts_left is None else "passkey"


def _left(attempts: int | None) -> str:
    return "" if attempts is None else f", {attempts} attempts left"


def ask_of(
    event: EnrollmentIssued, enrollment_time: timedelta, locks: Mapping[str, datetime]
) -> Ask | None:
    """What enrollment's answer asks the login for (None: an enrolled passkey user,
    whose sign-in challenge verification adds: PasskeyChallenged asks). A login that
    sets up an authenticator stays open ``enrollment_time`` from then; ``locks``: the
    users' locks that hold now, which the login keeps (its codes are answered at the
    edge, at no cost to verification)."""
    if event.state == "enrolled" and "passkey" in event.kinds:
        return None
    pending = None
    if event.state == "pending" and event.expires_at:
        pending = PendingEnrollment(event.otpauth_uri, event.expires_at, event.passkey_registration)
    return Ask(
        event.credential_id,
        event.kinds,
        pending,
        open_until=event.occurred_at + enrollment_time if pending else None,
        locked_until=locks.get(event.user.key),
        first_use=event.first_use,
        digits=event.totp.digits,
        period=event.totp.period,
    )


def code_audit(event: CodeVerified) -> AuditEvent:
    """The audit row of an app's code accepted (one per event: recorded once)."""
    drift = f", step offset {event.step_offset:+d}" if event.step_offset else ""
    return AuditEvent(
        event.organization_id,
        event.occurred_at,
        "code_verified",
        event.user_id,
        f"{event.purpose} code accepted{drift}",
        source=str(event.event_id),
    )
