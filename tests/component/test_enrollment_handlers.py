from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pyotp
import pytest
from faststream.redis import TestRedisBroker

from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings
from shared import streams
from shared.clock import FixedClock
from shared.crypto import SecretBox, credential_context, enrollment_context
from shared.events import (
    AuthenticatorReset,
    AuthenticatorResetApplied,
    CodeVerified,
    CredentialRegistered,
    EnrollmentIssued,
    LoginDecided,
)
from shared.identity import UserRef
from tests.component.conftest import Recorder
from tests.conftest import Namespace


@pytest.fixture
def settings(service_env: dict[str, Any]) -> EnrollmentSettings:
    return EnrollmentSettings(**service_env, issuer="Imageshop", offer_ttl_seconds=600)


@pytest.fixture
async def enrollment(
    settings: EnrollmentSettings, namespace: Namespace, clock: FixedClock
) -> AsyncIterator[tuple[Any, Recorder]]:
    app = create_app(settings, clock)
    recorder = Recorder(app.broker, namespace)
    recorder.watch(streams.ENROLLMENT_ISSUED, EnrollmentIssued)
    recorder.watch(streams.CREDENTIAL_REGISTERED, CredentialRegistered)
    recorder.watch(streams.AUTHENTICATOR_RESET_APPLIED, AuthenticatorResetApplied)
    async with TestRedisBroker(app.broker) as broker:
        yield broker, recorder


class Driver:
    def __init__(self, broker: Any, namespace: Namespace, clock: FixedClock) -> None:
        self.broker, self.namespace, self.clock = broker, namespace, clock

    async def decided(self, login_id: str, required: bool = True, user_id: str = "u1") -> None:
        await self.broker.publish(
            LoginDecided(
                occurred_at=self.clock.now(),
                correlation_id=login_id,
                organization_id="acme",
                login_id=login_id,
                user_id=user_id,
                email="ada@example.com",
                mfa_required=required,
                reason="user_type" if required else "not_applicable",
                policy_version=1,
            ),
            stream=self.namespace.stream(streams.LOGIN_DECIDED),
        )

    async def verified(self, credential_id: str, purpose: str = "enrollment") -> None:
        await self.broker.publish(
            CodeVerified(
                occurred_at=self.clock.now(),
                correlation_id="l",
                organization_id="acme",
                login_id="l",
                submission_id="s",
                user_id="u1",
                credential_id=credential_id,
                purpose=purpose,
            ),  # type: ignore[arg-type]
            stream=self.namespace.stream(streams.CODE_VERIFIED),
        )

    async def reset(self, requested_at: datetime | None = None) -> None:
        await self.broker.publish(
            AuthenticatorReset(
                occurred_at=requested_at or self.clock.now(),
                correlation_id="op",
                organization_id="acme",
                user_id="u1",
                requested_by="admin",
            ),
            stream=self.namespace.stream(streams.AUTHENTICATOR_RESET),
        )


@pytest.fixture
def drive(enrollment: Any, namespace: Namespace, clock: FixedClock) -> Driver:
    return Driver(enrollment[0], namespace, clock)


async def test_a_first_login_gets_a_new_secret_in_a_sealed_otpauth_uri(
    enrollment: Any, drive: Driver, settings: EnrollmentSettings
) -> None:
    _, recorder = enrollment
    await drive.decided("login-1")
    [issued] = recorder.of(streams.ENROLLMENT_ISSUED)
    [registered] = recorder.of(streams.CREDENTIAL_REGISTERED)
    assert issued.state == "pending"
    assert issued.credential_id == registered.credential_id
    box = SecretBox(settings.keyring)
    uri = box.open(issued.otpauth_uri, enrollment_context("login-1"))
    secret = box.open(
        registered.secret, credential_context(UserRef("acme", "u1"), registered.credential_id)
    )
    app_view = pyotp.parse_uri(uri)
    assert app_view.secret == secret
    assert (app_view.issuer, app_view.name) == ("Imageshop", "ada@example.com")
    assert secret not in issued.model_dump_json() + registered.model_dump_json()


async def test_a_second_login_before_confirming_shows_the_same_secret(
    enrollment: Any, drive: Driver, settings: EnrollmentSettings
) -> None:
    _, recorder = enrollment
    await drive.decided("login-1")
    await drive.decided("login-2")
    first, second = recorder.of(streams.ENROLLMENT_ISSUED)
    box = SecretBox(settings.keyring)
    assert first.credential_id == second.credential_id
    assert box.open(first.otpauth_uri, enrollment_context("login-1")) == box.open(
        second.otpauth_uri, enrollment_context("login-2")
    )


async def test_an_unconfirmed_offer_is_replaced_once_it_expires(
    enrollment: Any, drive: Driver, clock: FixedClock
) -> None:
    _, recorder = enrollment
    await drive.decided("login-1")
    clock.advance(seconds=601)
    await drive.decided("login-2")
    first, second = recorder.of(streams.ENROLLMENT_ISSUED)
    assert first.credential_id != second.credential_id
    assert second.expires_at == clock.now() + timedelta(seconds=600)


async def test_after_confirmation_logins_ask_for_the_code_only(
    enrollment: Any, drive: Driver
) -> None:
    _, recorder = enrollment
    await drive.decided("login-1")
    credential_id = recorder.of(streams.ENROLLMENT_ISSUED)[0].credential_id
    await drive.verified(credential_id)
    await drive.decided("login-2")
    later = recorder.of(streams.ENROLLMENT_ISSUED)[1]
    assert (later.state, later.otpauth_uri, later.credential_id) == (
        "enrolled",
        None,
        credential_id,
    )
    assert later.confirmed_at is not None
    assert len(recorder.of(streams.CREDENTIAL_REGISTERED)) == 1


async def test_a_login_code_does_not_confirm_a_pending_credential(
    enrollment: Any, drive: Driver
) -> None:
    _, recorder = enrollment
    await drive.decided("login-1")
    await drive.verified(recorder.of(streams.ENROLLMENT_ISSUED)[0].credential_id, "login")
    await drive.decided("login-2")
    assert recorder.of(streams.ENROLLMENT_ISSUED)[1].state == "pending"


async def test_logins_without_mfa_get_nothing(enrollment: Any, drive: Driver) -> None:
    _, recorder = enrollment
    await drive.decided("login-1", required=False)
    assert recorder.of(streams.ENROLLMENT_ISSUED) == []


async def test_a_reset_forgets_the_authenticator_and_registration_starts_over(
    enrollment: Any, drive: Driver
) -> None:
    _, recorder = enrollment
    await drive.decided("login-1")
    old = recorder.of(streams.ENROLLMENT_ISSUED)[0].credential_id
    await drive.verified(old)
    await drive.reset()
    [applied] = recorder.of(streams.AUTHENTICATOR_RESET_APPLIED)
    assert (applied.service, applied.correlation_id, applied.user_id) == ("enrollment", "op", "u1")
    await drive.decided("login-2")
    after = recorder.of(streams.ENROLLMENT_ISSUED)[1]
    assert after.state == "pending"
    assert after.credential_id != old


async def test_every_event_delivered_twice_changes_nothing_the_second_time(
    enrollment: Any, drive: Driver, settings: EnrollmentSettings
) -> None:
    _, recorder = enrollment
    await drive.decided("login-1")
    await drive.decided("login-1")  # the same decision again
    first, again = recorder.of(streams.ENROLLMENT_ISSUED)
    box = SecretBox(settings.keyring)
    assert again.credential_id == first.credential_id
    assert box.open(again.otpauth_uri, enrollment_context("login-1")) == box.open(
        first.otpauth_uri, enrollment_context("login-1")
    )
    await drive.verified(first.credential_id)
    await drive.verified(first.credential_id)  # the same confirmation again
    await drive.decided("login-2")
    later = recorder.of(streams.ENROLLMENT_ISSUED)[2]
    assert (later.state, later.credential_id) == ("enrolled", first.credential_id)
    await drive.reset()
    await drive.reset()  # the same reset again: answered again, nothing else
    assert len(recorder.of(streams.AUTHENTICATOR_RESET_APPLIED)) == 2


async def test_a_reset_delivered_again_after_the_user_enrolled_anew_keeps_the_new_one(
    enrollment: Any, drive: Driver, clock: FixedClock
) -> None:
    _, recorder = enrollment
    await drive.decided("login-1")
    await drive.verified(recorder.of(streams.ENROLLMENT_ISSUED)[0].credential_id)
    reset_at = clock.now()
    await drive.reset()
    clock.advance(seconds=5)
    await drive.decided("login-2")  # registration starts over: a new credential
    fresh = recorder.of(streams.ENROLLMENT_ISSUED)[1].credential_id
    clock.advance(seconds=5)
    await drive.reset(requested_at=reset_at)  # a late copy of the same reset
    await drive.decided("login-3")
    assert recorder.of(streams.ENROLLMENT_ISSUED)[2].credential_id == fresh
