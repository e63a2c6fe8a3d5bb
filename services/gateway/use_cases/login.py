"""The gateway's use cases, shared by the JSON API and the browser pages."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from opentelemetry.trace import Tracer

from services.gateway.domain.login import (
    Ask,
    CodeGate,
    CodeOutcome,
    CodePassed,
    Login,
    accepts,
    asked,
    may_submit_code,
    more_time,
    passed_by_code,
    visible_status,
)
from services.gateway.events.change_feed import ChangeFeed
from services.gateway.events.outbox import awaiting
from services.gateway.stores.devices import RememberedDevices
from services.gateway.stores.logins import LoginStore
from services.gateway.stores.organizations import Organizations
from services.gateway.stores.rate_limits import Throttle
from services.gateway.stores.read_models import AuthenticatorView, PolicyView
from services.gateway.use_cases.errors import (
    LoginExpired,
    LoginNotFound,
    NotWaitingForCode,
    OpenElsewhere,
    Refused,
    TooManyCodes,
)
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox, code_context
from shared.events import (
    CodeKind,
    CodeSubmitted,
    Event,
    LoginAttempted,
)
from shared.identity import UserRef
from shared.tracing import carried, login_span

Publish = Callable[[Event], Awaitable[object]]


@dataclass(frozen=True)
class CodeResult:
    login: Login
    outcome: CodeOutcome | None  # None: verification did not answer in time


KIND_NOT_OFFERED = {
    "totp": "This sign-in asks for a passkey, not an app's code.",
    "passkey": "This sign-in asks for an app's code, not a passkey.",
    "recovery_code": "",
}


def new_id() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class LoginFlow:
    logins: LoginStore
    organizations: Organizations
    authenticators: AuthenticatorView
    throttle: Throttle
    feed: ChangeFeed
    clock: Clock
    box: SecretBox
    publish_attempt: Publish
    publish_code: Publish
    publish_registration: Publish  # a passkey's attestation, for enrollment
    devices: RememberedDevices
    policy: PolicyView
    tracer: Tracer
    login_ttl: timedelta
    code_timeout: float
    max_codes_per_login: int
    max_wait: float  # MFA_MAX_WAIT_SECONDS: no request waits longer, whatever it asks
    enrollment_ttl: timedelta = timedelta(minutes=15)  # a first sign-in's time: see settings

    async def start(
        self,
        client: str,
        user: UserRef,
        email: str,
        user_type: str,
        require_mfa: bool = False,
        device_token: str | None = None,
    ) -> Login:
        """A login of ``user`` started by ``client`` (a key id, or the hosted sign-in);
        ``require_mfa`` asks for a code whatever the organization's policy says; a valid
        ``device_token`` of the user skips the code if it names the credential they hold."""
        login_id = new_id()
        with login_span(self.tracer, "mfa.login", login_id):  # the login's own trace
            return await self._start(
                login_id, client, user, email, user_type, require_mfa, device_token
            )

    async def _start(
        self,
        login_id: str,
        client: str,
        user: UserRef,
        email: str,
        user_type: str,
        require_mfa: bool,
        device_token: str | None,
    ) -> Login:
        now = self.clock.now()
        organization = await self.organizations.get(user.organization_id)
        remembered = await self._remembered(device_token, user, now) if device_token else None
        login = Login(
            login_id=login_id,
            organization_id=user.organization_id,
            client=client,
            user_id=user.user_id,
            email=email,
            user_type=user_type,
            status="pending",
            created_at=now,
            expires_at=now + self.login_ttl,
            remembered_credential=remembered,
            trace=carried(),
        )
        attempt = LoginAttempted(
            occurred_at=now,
            correlation_id=login.login_id,
            organization_id=user.organization_id,
            login_id=login.login_id,
            user_id=user.user_id,
            email=email,
            user_type=user_type,
            require_mfa=require_mfa,
            issuer=organization.issuer if organization else None,
        )
        await self.logins.create(login, awaiting(streams.LOGIN_ATTEMPTED, attempt, now, "attempt"))
        try:
            await self.publish_attempt(attempt)
        except Exception:
            await self.logins.expire(login.login_id)  # never leave it pending for nothing
            raise
        return login

    async def _remembered(self, token: str, user: UserRef, now: datetime) -> str | None:
        """The credential a device token names, if today's policy still remembers it."""
        days = (await self.policy.current(user.organization_id)).rules.remember_device_days
        return await self.devices.credential_for(token, user, now, days)

    async def open_in_browser(self, login_id: str, browser: str) -> Login:
        """A login for the hosted page: any client's, but only in the browser that claimed it."""
        login = await self.logins.get(login_id)
        if login is None:
            raise LoginNotFound(login_id)
        if login.browser == browser:
            return login
        if login.browser is not None or not await self.logins.claim(login_id, browser):
            raise OpenElsewhere(login_id)
        return login

    async def keep_open(self, login: Login, use: str | None = None) -> bool:
        """The user asked for more time on the page for ``use``: the login's step time
        again, within the hour. False: no longer than it was."""
        step = self.enrollment_ttl if login.purpose == "enrollment" else self.login_ttl
        until = more_time(login, self.clock.now(), step, use)
        return until is not None and await self.logins.keep_open(login.login_id, until)

    async def find(self, login_id: str, organization_id: str) -> Login:
        """A login, if it is this organization's: others' look like no login at all."""
        login = await self.logins.get(login_id)
        if login is None or login.organization_id != organization_id:
            raise LoginNotFound(login_id)
        return login

    async def wait(
        self, login_id: str, organization_id: str, seconds: float, started: Login | None = None
    ) -> Login:
        """The login once it is no longer pending, or as it is when ``seconds`` (at most
        ``max_wait``) run out. ``started``: the login this request has just started,
        pending for sure, so not read again."""
        seconds = min(seconds, self.max_wait)

        with self.feed.watch(login_id) as watch:  # before the read: no change missed
            login = started or await self.find(login_id, organization_id)

            async def decided() -> Login | None:
                if isinstance(watch.handed, Ask):  # asked on this replica: nothing to read
                    return asked(login, watch.handed)
                current = await self.logins.get(login_id)
                if current and visible_status(current, self.clock.now()) != "pending":
                    return current
                return None

            if seconds <= 0 or visible_status(login, self.clock.now()) != "pending":
                return login
            decision = await watch.until(decided, within=seconds, probe_now=False)
        return decision or await self.find(login_id, organization_id)

    async def submit_code(
        self,
        login_id: str,
        organization_id: str,
        code: str,
        client: str,
        kind: CodeKind = "totp",
    ) -> CodeResult:
        """Send ``code`` (an app's code, a recovery code, or a passkey's answer, from
        ``client``: a key id or a browser) to verification (a passkey's registration to
        enrollment) and wait for its answer. A user known to be locked is answered here,
        at no cost."""
        return await self._submit(await self.find(login_id, organization_id), code, client, kind)

    async def decide_and_check(
        self, started: Login, code: str | None, client: str, kind: CodeKind, seconds: float
    ) -> tuple[Login, CodeResult | None]:
        """A login started with its code (one request): wait up to ``seconds`` for the
        decision, then check the code exactly as ``submit_code`` does. No code is checked
        (None) when none was sent, when the decision did not come in time, or when the
        login does not ask for this kind of code: a user to enroll (who has no code
        yet), a user MFA does not cover, a user who must use a passkey."""
        login = await self.wait(started.login_id, started.organization_id, seconds, started)
        status = visible_status(login, self.clock.now())
        if code is None or status not in ("code_required", "locked") or not accepts(login, kind):
            return login, None
        return login, await self._submit(login, code, client, kind)

    async def _submit(self, login: Login, code: str, client: str, kind: CodeKind) -> CodeResult:
        login_id = login.login_id
        gate = may_submit_code(login, self.clock.now())
        if gate is CodeGate.EXPIRED:
            raise LoginExpired(login_id)
        if gate is CodeGate.NOT_WAITING or login.credential_id is None:
            raise NotWaitingForCode(visible_status(login, self.clock.now()))
        if kind == "recovery_code" and login.purpose == "enrollment":
            raise Refused(
                "no_recovery_codes_yet",
                "Recovery codes replace an authenticator that is set up; scan the QR code.",
            )
        if not accepts(login, kind):
            raise Refused("kind_not_offered", KIND_NOT_OFFERED[kind])
        registration = kind == "passkey" and login.purpose == "enrollment"
        if not await self.throttle.code(client):
            raise TooManyCodes("client")
        # A lock this login was told of is answered here. Any other (a lock from another
        # login of the user) verification answers: it owns the lock. No read per code.
        if visible_status(login, self.clock.now()) == "locked" and login.locked_until:
            return CodeResult(login, CodeOutcome(False, "locked", 0, login.locked_until))
        return await self._send(login, code, client, kind, login.purpose, registration)

    async def add_passkey(self, login: Login, answer: str, client: str) -> CodeResult:
        """The browser's attestation of one more passkey, for the user of this login who
        just passed (the caller checked): to enrollment, and wait for the answer."""
        if not await self.throttle.code(client):
            raise TooManyCodes("client")
        if (locked := await self.locked_until(login)) is not None:  # nothing added meanwhile
            return CodeResult(login, CodeOutcome(False, "locked", 0, locked))
        return await self._send(login, answer, client, "passkey", "enrollment", registration=True)

    async def _send(
        self,
        login: Login,
        code: str,
        client: str,
        kind: CodeKind,
        purpose: Literal["enrollment", "login"],
        registration: bool,
    ) -> CodeResult:
        login_id, organization_id = login.login_id, login.organization_id
        if login.credential_id is None:
            raise NotWaitingForCode(visible_status(login, self.clock.now()))
        submission_id = new_id()
        submitted = CodeSubmitted(
            occurred_at=self.clock.now(),
            correlation_id=login_id,
            organization_id=organization_id,
            login_id=login_id,
            submission_id=submission_id,
            user_id=login.user_id,
            credential_id=login.credential_id,
            purpose=purpose,
            code=self.box.seal(code, code_context(login_id, submission_id)),
            kind=kind,
        )
        stream = streams.PASSKEY_REGISTRATION_SUBMITTED if registration else streams.CODE_SUBMITTED
        waits = awaiting(stream, submitted, submitted.occurred_at, submission_id)
        counted = await self.logins.count_submission(
            login_id, self.max_codes_per_login, waits, client
        )
        if not counted:
            raise TooManyCodes("login")

        with self.feed.watch(login_id) as watch:  # before sending: the answer is not missed

            async def answered() -> Login | None:
                handed = watch.handed  # authenticated on this replica: nothing to read
                if isinstance(handed, CodePassed) and handed.submission_id == submission_id:
                    return passed_by_code(login, submission_id)
                current = await self.logins.get(login_id)
                return current if current and submission_id in current.outcomes else None

            with login_span(self.tracer, "mfa.login.code", login_id, parent=login.trace):
                publish = self.publish_registration if registration else self.publish_code
                await publish(submitted)
            answered_login = await watch.until(answered, self.code_timeout, probe_now=False)
        if answered_login is None:
            await self.logins.answer_lost(login_id, submission_id)
            return CodeResult(await self.find(login_id, organization_id), None)
        return CodeResult(answered_login, answered_login.outcomes[submission_id])

    async def locked_until(self, login: Login) -> datetime | None:
        """When the user's lock ends, if verification told us of one that holds now."""
        known = await self.authenticators.get(login.user)
        return known.locked_until if known and known.locked(self.clock.now()) else None
