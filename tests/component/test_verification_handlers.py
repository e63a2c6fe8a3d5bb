import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pyotp
import pytest
from faststream.redis import TestRedisBroker
from prometheus_client import CollectorRegistry

from services.verification.app import create_app
from services.verification.settings import VerificationSettings
from shared import streams
from shared.clock import FixedClock
from shared.crypto import SecretBox, code_context, credential_context
from shared.events import (
    AuthenticatorReset,
    AuthenticatorResetApplied,
    CodeRejected,
    CodeSubmitted,
    CodeVerified,
    CredentialRegistered,
)
from shared.identity import UserRef
from tests.component.conftest import Recorder
from tests.conftest import Namespace

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
U1 = UserRef("acme", "u1")


@pytest.fixture
def settings(service_env: dict[str, Any]) -> VerificationSettings:
    return VerificationSettings(**service_env, credential_wait_seconds=0.2)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def verification(
    settings: VerificationSettings,
    namespace: Namespace,
    clock: FixedClock,
    registry: CollectorRegistry,
) -> AsyncIterator[tuple[Any, Recorder]]:
    app = create_app(settings, clock, registry)
    recorder = Recorder(app.broker, namespace)
    recorder.watch(streams.CODE_VERIFIED, CodeVerified)
    recorder.watch(streams.CODE_REJECTED, CodeRejected)
    recorder.watch(streams.AUTHENTICATOR_RESET_APPLIED, AuthenticatorResetApplied)
    async with TestRedisBroker(app.broker) as broker:
        yield broker, recorder


class Driver:
    def __init__(
        self, broker: Any, namespace: Namespace, clock: FixedClock, box: SecretBox
    ) -> None:
        self.broker, self.namespace, self.clock, self.box = broker, namespace, clock, box
        self.submissions = 0

    async def register(
        self, credential_id: str = "c1", secret: str = SECRET, age: timedelta = timedelta(0)
    ) -> None:
        """``credential_id`` registered; created ``age`` before now."""
        await self.broker.publish(
            CredentialRegistered(
                occurred_at=self.clock.now(),
                correlation_id="l",
                organization_id="acme",
                user_id="u1",
                credential_id=credential_id,
                secret=self.box.seal(
                    secret, credential_context(UserRef("acme", "u1"), credential_id)
                ),
                created_at=self.clock.now() - age,
            ),
            stream=self.namespace.stream(streams.CREDENTIAL_REGISTERED),
        )

    def submission(self, code: str, credential_id: str = "c1") -> CodeSubmitted:
        self.submissions += 1
        sid = f"s{self.submissions}"
        return CodeSubmitted(
            occurred_at=self.clock.now(),
            correlation_id="l1",
            organization_id="acme",
            login_id="l1",
            submission_id=sid,
            user_id="u1",
            credential_id=credential_id,
            purpose="enrollment",
            code=self.box.seal(code, code_context("l1", sid)),
        )

    async def submit(self, code: str, credential_id: str = "c1") -> CodeSubmitted:
        event = self.submission(code, credential_id)
        await self.send(event)
        return event

    async def send(self, event: CodeSubmitted) -> None:
        await self.broker.publish(event, stream=self.namespace.stream(streams.CODE_SUBMITTED))

    def code(self, seconds_from_now: float = 0) -> str:
        return pyotp.TOTP(SECRET).at(self.clock.now() + timedelta(seconds=seconds_from_now))


@pytest.fixture
def drive(
    verification: Any, namespace: Namespace, clock: FixedClock, settings: VerificationSettings
) -> Driver:
    return Driver(verification[0], namespace, clock, SecretBox(settings.keyring))


def outcomes(recorder: Recorder) -> list[tuple[str, int | None]]:
    events = [*recorder.of(streams.CODE_VERIFIED), *recorder.of(streams.CODE_REJECTED)]
    events.sort(key=lambda e: e.submission_id)
    return [
        ("verified", None) if isinstance(e, CodeVerified) else (e.reason, e.attempts_left)
        for e in events
    ]


async def test_the_right_code_is_verified_for_its_login(verification: Any, drive: Driver) -> None:
    _, recorder = verification
    await drive.register()
    await drive.submit(drive.code())
    [verified] = recorder.of(streams.CODE_VERIFIED)
    assert (verified.login_id, verified.submission_id, verified.purpose) == (
        "l1",
        "s1",
        "enrollment",
    )


async def test_wrong_expired_and_reused_codes_say_why_and_count_down(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register()
    await drive.submit(drive.code())
    await drive.submit(drive.code())
    await drive.submit(drive.code(-90))
    await drive.submit("000000" if drive.code() != "000000" else "111111")
    assert outcomes(recorder) == [("verified", None), ("reused", 4), ("expired", 3), ("invalid", 2)]


async def test_five_failures_lock_the_user_and_the_lock_lapses(
    verification: Any, drive: Driver, clock: FixedClock
) -> None:
    _, recorder = verification
    await drive.register()
    for _ in range(5):
        await drive.submit(drive.code(-120))
    locked = recorder.of(streams.CODE_REJECTED)[-1]
    assert (locked.reason, locked.locked_until) == ("locked", clock.now() + timedelta(minutes=15))
    await drive.submit(drive.code())
    assert recorder.of(streams.CODE_REJECTED)[-1].reason == "locked"
    clock.advance(minutes=15)
    await drive.submit(drive.code())
    assert len(recorder.of(streams.CODE_VERIFIED)) == 1


async def test_a_redelivered_submission_gets_the_same_answer_and_counts_once(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register()
    event = drive.submission("000000" if drive.code() != "000000" else "111111")
    await drive.send(event)
    await drive.send(event)
    await drive.submit(drive.code(-120))
    assert [(e.submission_id, e.attempts_left) for e in recorder.of(streams.CODE_REJECTED)] == [
        ("s1", 4),
        ("s1", 4),
        ("s2", 3),
    ]


async def test_a_redelivered_accepted_code_is_not_reported_as_a_replay(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register()
    event = drive.submission(drive.code())
    await drive.send(event)
    await drive.send(event)
    assert len(recorder.of(streams.CODE_VERIFIED)) == 2
    assert recorder.of(streams.CODE_REJECTED) == []


async def test_concurrent_submissions_of_one_code_succeed_only_once(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register()
    code = drive.code()
    await asyncio.gather(*(drive.submit(code) for _ in range(4)))
    assert len(recorder.of(streams.CODE_VERIFIED)) == 1
    assert [e.reason for e in recorder.of(streams.CODE_REJECTED)] == ["reused"] * 3


async def test_a_code_for_an_unknown_credential_is_invalid_but_not_counted(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register("c1")
    await drive.submit(drive.code(), credential_id="c-old")
    [rejected] = recorder.of(streams.CODE_REJECTED)
    assert (rejected.reason, rejected.attempts_left) == ("invalid", 5)


async def reset(drive: Driver, requested_at: datetime) -> None:
    await drive.broker.publish(
        AuthenticatorReset(
            occurred_at=requested_at,
            correlation_id="op",
            organization_id="acme",
            user_id="u1",
            requested_by="admin",
        ),
        stream=drive.namespace.stream(streams.AUTHENTICATOR_RESET),
    )


async def test_a_reset_makes_the_old_secret_stop_working(verification: Any, drive: Driver) -> None:
    _, recorder = verification
    await drive.register()
    await reset(drive, drive.clock.now())
    [applied] = recorder.of(streams.AUTHENTICATOR_RESET_APPLIED)
    assert applied.service == "verification"
    await drive.submit(drive.code())
    assert recorder.of(streams.CODE_VERIFIED) == []
    assert recorder.of(streams.CODE_REJECTED)[0].reason == "invalid"


async def test_a_reset_delivered_again_after_a_new_enrollment_keeps_the_new_secret(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register("old")
    requested_at = drive.clock.now()
    await reset(drive, requested_at)
    drive.clock.advance(seconds=5)
    await drive.register("new")  # the user scanned a new QR code
    await reset(drive, requested_at)  # a late copy of the same reset
    await drive.submit(drive.code(), credential_id="new")
    assert outcomes(recorder) == [("verified", None)]


async def test_a_new_credential_keeps_the_lockout_state(verification: Any, drive: Driver) -> None:
    _, recorder = verification
    await drive.register("c1")
    await drive.submit(drive.code(-120))
    drive.clock.advance(minutes=11)  # the first offer lapsed: a newer credential
    await drive.register("c2")
    await drive.submit(drive.code(-120), credential_id="c2")
    assert recorder.of(streams.CODE_REJECTED)[-1].attempts_left == 3


async def test_checks_are_counted_by_outcome_for_dashboards(
    verification: Any, drive: Driver, registry: CollectorRegistry
) -> None:
    await drive.register()
    await drive.submit(drive.code())
    await drive.submit(drive.code())
    assert registry.get_sample_value("mfa_code_checks_total", {"outcome": "verified"}) == 1
    assert registry.get_sample_value("mfa_code_checks_total", {"outcome": "reused"}) == 1


async def test_an_older_credential_arriving_late_does_not_displace_a_newer_one(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    older_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    await drive.register("new")  # the offer a user scanned
    await drive.submit(drive.code(), credential_id="new")
    await drive.register("old", secret=older_secret, age=timedelta(minutes=11))  # redelivered
    await drive.submit(drive.code(), credential_id="new")  # the same code again: a replay
    drive.clock.advance(seconds=30)
    await drive.submit(drive.code(), credential_id="new")
    assert outcomes(recorder) == [("verified", None), ("reused", 4), ("verified", None)]


async def test_any_submission_redelivered_later_gets_its_first_answer(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register()
    first = drive.submission(drive.code())  # s1: accepted
    await drive.send(first)
    await drive.submit(drive.code(-120))  # s2: expired, 4 attempts left
    await drive.send(first)  # s1 again, after s2: neither a replay nor a failure
    drive.clock.advance(seconds=30)
    await drive.submit(drive.code(-120))  # s3: expired, 3 attempts left (s1 counted once)
    assert outcomes(recorder) == [
        ("verified", None),
        ("verified", None),
        ("expired", 4),
        ("expired", 3),
    ]
