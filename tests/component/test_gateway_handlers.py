import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from faststream.redis import TestRedisBroker
from redis.asyncio import Redis

from services.gateway.app import create_app
from services.gateway.domain.login import visible_status
from services.gateway.settings import GatewaySettings
from services.gateway.stores.audit import AuditLog
from services.gateway.use_cases.errors import TooManyCodes
from services.gateway.use_cases.login import LoginFlow
from shared import streams
from shared.clock import FixedClock
from shared.crypto import SecretBox, enrollment_context, recovery_codes_context
from shared.events import (
    AuthenticatorReset,
    AuthenticatorResetApplied,
    CodeRejected,
    CodeSubmitted,
    CodeVerified,
    EnrollmentIssued,
    LoginDecided,
    PolicyApplied,
    PolicyRules,
    UserNotice,
)
from shared.identity import UserRef
from tests.component.conftest import Recorder
from tests.conftest import Namespace

ADA = UserRef("acme", "u1")


@asynccontextmanager
async def gateway_on_test_broker(
    settings: GatewaySettings, clock: FixedClock, namespace: Namespace
) -> AsyncIterator[Any]:
    # The test broker has no Redis behind it; the rate limits count in the real one.
    real_redis = Redis.from_url(settings.redis_url.get_secret_value())

    async def connect() -> Redis:
        return real_redis

    app = create_app(settings, clock, limits_redis=connect)
    published = Recorder(app.state.gateway.broker, namespace)  # what the gateway sends
    published.watch(streams.AUTHENTICATOR_RESET, AuthenticatorReset)
    published.watch(streams.CODE_SUBMITTED, CodeSubmitted)
    published.watch(streams.USER_NOTICE, UserNotice)
    try:
        async with TestRedisBroker(app.state.gateway.broker) as broker:
            yield app, broker, published
    finally:
        await real_redis.aclose()


@pytest.fixture
async def gateway(
    service_env: dict[str, Any], clock: FixedClock, namespace: Namespace
) -> AsyncIterator[Any]:
    async with gateway_on_test_broker(GatewaySettings(**service_env), clock, namespace) as app:
        yield app


class Driver:
    def __init__(
        self, gateway: Any, namespace: Namespace, clock: FixedClock, box: SecretBox
    ) -> None:
        app, self.broker, self.published = gateway
        self.namespace, self.clock, self.box = namespace, clock, box
        self.flow: LoginFlow = app.state.gateway.login_flow

    async def send(self, stream: str, event: Any) -> None:
        await self.broker.publish(event, stream=self.namespace.stream(stream))

    async def status(self, login_id: str) -> str:
        return visible_status(await self.flow.find(login_id, "acme"), self.clock.now())

    def envelope(self, login_id: str) -> dict[str, Any]:
        return {
            "occurred_at": self.clock.now(),
            "correlation_id": login_id,
            "organization_id": "acme",
            "login_id": login_id,
            "user_id": "u1",
        }

    async def remembering(self, days: int, version: int = 1) -> None:
        """The organization's policy now remembers devices for ``days`` (0: off)."""
        applied = PolicyApplied(
            occurred_at=self.clock.now(),
            correlation_id=f"policy-{version}",
            organization_id="acme",
            policy=PolicyRules(user_types=("editor",), remember_device_days=days),
            version=version,
            updated_at=self.clock.now(),
            requested_by="key:admin",
        )
        await self.send(streams.POLICY_APPLIED, applied)

    async def submit(self, login_id: str, caller: str) -> tuple[asyncio.Task[Any], str]:
        """A code sent by ``caller`` (the flow waits for verification's answer in the
        task): that task, and the submission id verification would answer."""
        task = asyncio.create_task(self.flow.submit_code(login_id, "acme", "123456", caller))
        submitted = await self.published.first(streams.CODE_SUBMITTED)
        return task, submitted.submission_id

    def decided(self, login_id: str, mfa_required: bool) -> LoginDecided:
        return LoginDecided(
            **self.envelope(login_id),
            email="a@b.c",
            mfa_required=mfa_required,
            reason="user_type" if mfa_required else "not_applicable",
            policy_version=1,
        )

    def issued(self, login_id: str, pending: bool) -> EnrollmentIssued:
        uri = self.box.seal(
            "otpauth://totp/I:a?secret=JBSWY3DPEHPK3PXP", enrollment_context(login_id)
        )
        return EnrollmentIssued(
            **self.envelope(login_id),
            credential_id="c1",
            state="pending" if pending else "enrolled",
            otpauth_uri=uri if pending else None,
            expires_at=self.clock.now() + timedelta(minutes=10),
            credential_created_at=self.clock.now(),
        )


@pytest.fixture
def drive(
    gateway: Any, namespace: Namespace, clock: FixedClock, service_env: dict[str, Any]
) -> Driver:
    return Driver(gateway, namespace, clock, SecretBox(GatewaySettings(**service_env).keyring))


async def test_a_login_without_mfa_is_authenticated_when_decided(drive: Driver) -> None:
    login = await drive.flow.start("c", ADA, "a@b.c", "viewer")
    assert await drive.status(login.login_id) == "pending"
    await drive.send(streams.LOGIN_DECIDED, drive.decided(login.login_id, mfa_required=False))
    assert await drive.status(login.login_id) == "authenticated"


async def test_the_enrollment_answer_decides_between_qr_and_code(drive: Driver) -> None:
    first = await drive.flow.start("c", ADA, "a@b.c", "editor")
    later = await drive.flow.start("c", ADA, "a@b.c", "editor")
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(first.login_id, pending=True))
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(later.login_id, pending=False))
    assert await drive.status(first.login_id) == "enrollment_required"
    assert await drive.status(later.login_id) == "code_required"
    assert (await drive.flow.find(later.login_id, "acme")).enrollment is None


async def test_answers_are_kept_per_submission_and_a_lock_shows(drive: Driver) -> None:
    login = await drive.flow.start("c", ADA, "a@b.c", "editor")
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(login.login_id, pending=False))
    until = drive.clock.now() + timedelta(minutes=15)
    await drive.send(
        streams.CODE_REJECTED,
        CodeRejected(
            **drive.envelope(login.login_id),
            submission_id="s1",
            credential_id="c1",
            reason="locked",
            attempts_left=0,
            locked_until=until,
        ),
    )
    stored = await drive.flow.find(login.login_id, "acme")
    assert stored.outcomes["s1"].reason == "locked"
    assert await drive.status(login.login_id) == "locked"
    drive.clock.advance(minutes=15)
    await drive.send(
        streams.CODE_VERIFIED,
        CodeVerified(
            **drive.envelope(login.login_id),
            submission_id="s2",
            credential_id="c1",
            purpose="login",
        ),
    )
    assert await drive.status(login.login_id) == "authenticated"
    assert (await drive.flow.find(login.login_id, "acme")).outcomes["s2"].accepted


async def test_a_decision_that_asks_for_a_code_leaves_the_login_to_enrollment(
    drive: Driver,
) -> None:
    login = await drive.flow.start("c", ADA, "a@b.c", "editor")
    await drive.send(streams.LOGIN_DECIDED, drive.decided(login.login_id, mfa_required=True))
    pending = await drive.flow.find(login.login_id, "acme")
    assert (pending.status, pending.mfa_required) == ("pending", None)  # no write at all
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(login.login_id, pending=False))
    asked = await drive.flow.find(login.login_id, "acme")
    assert (asked.status, asked.mfa_required) == ("code_required", True)


async def test_a_late_decision_does_not_undo_the_enrollment_answer(drive: Driver) -> None:
    login = await drive.flow.start("c", ADA, "a@b.c", "editor")
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(login.login_id, pending=True))
    await drive.send(streams.LOGIN_DECIDED, drive.decided(login.login_id, mfa_required=True))
    assert await drive.status(login.login_id) == "enrollment_required"


async def test_a_reset_ends_the_logins_started_while_the_owners_were_forgetting(
    gateway: Any, drive: Driver
) -> None:
    app = gateway[0]
    reset = asyncio.create_task(app.state.gateway.admin_flow.reset_authenticator(ADA, "key:test"))
    event = await drive.published.first(streams.AUTHENTICATOR_RESET)
    # Enrollment answered this login with the old credential before it forgot it.
    during = await drive.flow.start("c", ADA, "a@b.c", "editor")
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(during.login_id, pending=False))
    assert await drive.status(during.login_id) == "code_required"
    for owner in ("enrollment", "verification"):
        await drive.send(
            streams.AUTHENTICATOR_RESET_APPLIED,
            AuthenticatorResetApplied(
                occurred_at=drive.clock.now(),
                correlation_id=event.correlation_id,
                organization_id="acme",
                user_id="u1",
                service=owner,
            ),
        )
    await reset
    assert await drive.status(during.login_id) == "expired"
    # A code of the old authenticator, checked before verification forgot it.
    verified = CodeVerified(
        **drive.envelope(during.login_id), submission_id="s1", credential_id="c1", purpose="login"
    )
    await drive.send(streams.CODE_VERIFIED, verified)
    assert await drive.status(during.login_id) == "expired"


async def test_an_accepted_code_for_a_login_that_a_reset_ended_answers_410(
    gateway: Any, drive: Driver
) -> None:
    app = gateway[0]
    user = UserRef("default", "u1")  # the development client key's organization
    login = await drive.flow.start("c", user, "a@b.c", "editor")
    envelope = {**drive.envelope(login.login_id), "organization_id": "default"}
    issued = drive.issued(login.login_id, pending=False).model_copy(update=envelope)
    await drive.send(streams.ENROLLMENT_ISSUED, issued)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        answer = asyncio.create_task(
            http.post(
                f"/v1/logins/{login.login_id}/code",
                json={"code": "123456"},
                headers={"Authorization": "Bearer dev-client-key"},
            )
        )
        code = await drive.published.first(streams.CODE_SUBMITTED)
        await app.state.gateway.login_flow.logins.expire_open_logins_of(user)  # a reset ended it
        verified = CodeVerified(
            **envelope, submission_id=code.submission_id, credential_id="c1", purpose="login"
        )
        await drive.send(streams.CODE_VERIFIED, verified)
        response = await answer
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "login_expired"


@pytest.fixture
async def strict_gateway(
    service_env: dict[str, Any], clock: FixedClock, namespace: Namespace
) -> AsyncIterator[Any]:
    settings = GatewaySettings(
        **service_env,
        max_codes_per_login=3,
        code_limit_per_client="5/minute",
        code_timeout_seconds=0.05,  # nobody answers here: each code times out at once
    )
    async with gateway_on_test_broker(settings, clock, namespace) as app:
        yield app


@pytest.fixture
def strict(
    strict_gateway: Any, namespace: Namespace, clock: FixedClock, service_env: dict[str, Any]
) -> Driver:
    box = SecretBox(GatewaySettings(**service_env).keyring)
    return Driver(strict_gateway, namespace, clock, box)


async def open_login(drive: Driver) -> str:
    login = await drive.flow.start("c", ADA, "a@b.c", "editor")
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(login.login_id, pending=False))
    return login.login_id


async def test_a_login_takes_a_bounded_number_of_codes(strict: Driver) -> None:
    login_id = await open_login(strict)
    for _ in range(3):
        assert (await strict.flow.submit_code(login_id, "acme", "123456", "k1")).outcome is None
    with pytest.raises(TooManyCodes) as refused:
        await strict.flow.submit_code(login_id, "acme", "123456", "k1")
    assert refused.value.per == "login"


async def test_a_client_submits_a_bounded_number_of_codes_a_minute(strict: Driver) -> None:
    logins = [await open_login(strict) for _ in range(3)]
    for login_id in [*logins, *logins[:2]]:
        await strict.flow.submit_code(login_id, "acme", "123456", "k1")
    with pytest.raises(TooManyCodes) as refused:
        await strict.flow.submit_code(logins[2], "acme", "123456", "k1")
    assert refused.value.per == "client"
    await strict.flow.submit_code(logins[2], "acme", "123456", "k2")  # its own budget


async def test_a_redelivered_event_is_audited_once(gateway: Any, drive: Driver) -> None:
    login_id = await open_login(drive)
    verified = CodeVerified(
        **drive.envelope(login_id), submission_id="s1", credential_id="c1", purpose="login"
    )
    for _ in range(2):
        await drive.send(streams.CODE_VERIFIED, verified)
    audit: AuditLog = gateway[0].state.web.audit
    rows = [e for e in await audit.latest("acme") if e.kind == "code_verified"]
    assert len(rows) == 1


async def test_a_device_remembered_for_the_credential_held_skips_the_code(
    gateway: Any, drive: Driver
) -> None:
    devices = gateway[0].state.gateway.self_service.devices
    await drive.remembering(days=7)
    token = (await devices.remember(ADA, "c1", drive.clock.now(), 7)).token
    login = await drive.flow.start("c", ADA, "a@b.c", "editor", device_token=token)
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(login.login_id, pending=False))
    passed = await drive.flow.find(login.login_id, "acme")
    assert (passed.status, passed.passed_by, passed.mfa_required) == (
        "authenticated",
        "remembered_device",
        True,
    )
    stale = await devices.remember(ADA, "c-old", drive.clock.now(), 7)  # another credential
    other = await drive.flow.start("c", ADA, "a@b.c", "editor", device_token=stale.token)
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(other.login_id, pending=False))
    assert await drive.status(other.login_id) == "code_required"


async def test_recovery_codes_go_only_to_the_caller_whose_code_issued_them_once(
    gateway: Any, drive: Driver
) -> None:
    login = await drive.flow.start("c", ADA, "a@b.c", "editor")
    await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(login.login_id, pending=True))
    answered, submission_id = await drive.submit(login.login_id, "k1")
    codes = drive.box.seal('["aaaaa-bbbbb"]', recovery_codes_context(login.login_id))
    await drive.send(
        streams.CODE_VERIFIED,
        CodeVerified(
            **drive.envelope(login.login_id),
            submission_id=submission_id,
            credential_id="c1",
            purpose="enrollment",
            recovery_codes=codes,
            recovery_codes_left=1,
        ),
    )
    confirmed = (await answered).login
    own = gateway[0].state.gateway.self_service
    for stranger in ("k2", "web:another-browser"):  # holding the login id is not enough
        assert await own.take_recovery_codes(confirmed, stranger) is None
    assert await own.take_recovery_codes(confirmed, "k1") == ["aaaaa-bbbbb"]
    assert await own.take_recovery_codes(confirmed, "k1") is None  # once


async def test_once_one_login_confirms_the_others_showing_the_qr_ask_for_the_code(
    drive: Driver,
) -> None:
    first, second = [await drive.flow.start("c", ADA, "a@b.c", "editor") for _ in range(2)]
    for login in (first, second):
        await drive.send(streams.LOGIN_DECIDED, drive.decided(login.login_id, mfa_required=True))
        await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(login.login_id, pending=True))
    codes = drive.box.seal('["aaaaa-bbbbb"]', recovery_codes_context(first.login_id))
    confirmed = CodeVerified(
        **drive.envelope(first.login_id),
        submission_id="s1",
        credential_id="c1",
        purpose="enrollment",
        recovery_codes=codes,
        recovery_codes_left=10,
    )
    await drive.send(streams.CODE_VERIFIED, confirmed)
    other = await drive.flow.find(second.login_id, "acme")
    assert (other.status, other.enrollment) == ("code_required", None)  # no secret shown
    notices = [n.kind for n in drive.published.of(streams.USER_NOTICE)]
    assert notices == ["authenticator_confirmed"]
    again = confirmed.model_copy(  # another event: not a redelivery of the first
        update={
            "event_id": uuid.uuid4(),
            "login_id": second.login_id,
            "submission_id": "s2",
            "recovery_codes": None,
        }
    )
    await drive.send(streams.CODE_VERIFIED, again)  # passes, confirms nothing new
    assert [n.kind for n in drive.published.of(streams.USER_NOTICE)] == notices


async def test_a_remembered_device_passes_only_while_todays_policy_allows_its_age(
    gateway: Any, drive: Driver
) -> None:
    devices = gateway[0].state.gateway.self_service.devices
    await drive.remembering(days=30)
    token = (await devices.remember(ADA, "c1", drive.clock.now(), 30)).token

    async def passes() -> bool:
        login = await drive.flow.start("c", ADA, "a@b.c", "editor", device_token=token)
        await drive.send(streams.ENROLLMENT_ISSUED, drive.issued(login.login_id, pending=False))
        return await drive.status(login.login_id) == "authenticated"

    drive.clock.advance(days=3)
    assert await passes()
    await drive.remembering(days=2, version=2)  # shortened below the token's age
    assert not await passes()
    await drive.remembering(days=30, version=3)  # its issued expiry still holds
    assert await passes()
    await drive.remembering(days=0, version=4)  # "never": every token is forgotten
    assert not await passes()
    await drive.remembering(days=30, version=5)
    assert not await passes()


async def test_only_the_rejection_that_starts_a_lock_sends_a_notice(drive: Driver) -> None:
    login = await drive.flow.start("c", ADA, "a@b.c", "editor")
    await drive.send(streams.LOGIN_DECIDED, drive.decided(login.login_id, mfa_required=True))
    until = drive.clock.now() + timedelta(minutes=15)
    for n, locked_now in enumerate((True, False)):
        rejected = CodeRejected(
            **drive.envelope(login.login_id),
            submission_id=f"s{n}",
            credential_id="c1",
            reason="locked",
            attempts_left=0,
            locked_until=until,
            locked_now=locked_now,
        )
        await drive.send(streams.CODE_REJECTED, rejected)
        await drive.send(streams.CODE_REJECTED, rejected)  # a redelivery
    sent = drive.published.of(streams.USER_NOTICE)
    assert [(n.kind, n.email, n.locked_until) for n in sent] == [("locked", "a@b.c", until)] * 2
    assert sent[0].event_id == sent[1].event_id  # the copy has the same id: mailed once


async def test_a_wait_is_cut_to_the_configured_maximum(
    service_env: dict[str, Any], clock: FixedClock, namespace: Namespace
) -> None:
    settings = GatewaySettings(**service_env, max_wait_seconds=0.2)
    async with gateway_on_test_broker(settings, clock, namespace) as (app, _, _):
        flow: LoginFlow = app.state.gateway.login_flow
        login = await flow.start("c", ADA, "a@b.c", "editor")  # nobody decides it here
        waited = asyncio.create_task(flow.wait(login.login_id, "acme", 30))
        done, _ = await asyncio.wait({waited}, timeout=10)  # far less than the 30 asked
        assert done == {waited}
        assert waited.result().status == "pending"
