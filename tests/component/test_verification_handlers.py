import asyncio
import json
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
from shared.crypto import SecretBox, code_context, credential_context, recovery_codes_context
from shared.events import (
    AuthenticatorReset,
    AuthenticatorResetApplied,
    AuthenticatorUnlocked,
    CodeKind,
    CodePurpose,
    CodeRejected,
    CodeSubmitted,
    CodeVerified,
    CredentialRegistered,
    RecoveryCodesIssued,
    RecoveryCodesRequested,
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
    recorder.watch(streams.RECOVERY_CODES_ISSUED, RecoveryCodesIssued)
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

    def submission(
        self,
        code: str,
        credential_id: str = "c1",
        purpose: CodePurpose = "enrollment",
        kind: CodeKind = "totp",
    ) -> CodeSubmitted:
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
            purpose=purpose,
            code=self.box.seal(code, code_context("l1", sid)),
            kind=kind,
        )

    async def submit(
        self, code: str, credential_id: str = "c1", kind: CodeKind = "totp"
    ) -> CodeSubmitted:
        event = self.submission(
            code, credential_id, "login" if kind == "recovery_code" else "enrollment", kind
        )
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
    verification: Any, drive: Driver, registry: CollectorRegistry
) -> None:
    _, recorder = verification
    await drive.register("c1")
    await drive.submit(drive.code(), credential_id="c-old")
    [rejected] = recorder.of(streams.CODE_REJECTED)
    assert (rejected.reason, rejected.attempts_left) == ("invalid", 5)  # not toward a lock
    assert registry.get_sample_value("mfa_code_checks_total", {"outcome": "invalid"}) == 1


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


def opened_codes(drive: Driver, sealed: Any) -> list[str]:
    return list(json.loads(drive.box.open(sealed, recovery_codes_context("l1"))))


async def confirmed_with_codes(drive: Driver, recorder: Recorder) -> list[str]:
    """An authenticator confirmed by its first code: the recovery codes it came with."""
    await drive.register()
    await drive.submit(drive.code())
    [confirmed] = recorder.of(streams.CODE_VERIFIED)
    return opened_codes(drive, confirmed.recovery_codes)


async def test_confirming_an_authenticator_issues_ten_recovery_codes(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    codes = await confirmed_with_codes(drive, recorder)
    assert len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    assert recorder.of(streams.CODE_VERIFIED)[0].recovery_codes_left == 10


async def test_a_login_code_issues_no_recovery_codes(verification: Any, drive: Driver) -> None:
    _, recorder = verification
    await drive.register()
    await drive.send(drive.submission(drive.code(), purpose="login"))
    [verified] = recorder.of(streams.CODE_VERIFIED)
    assert verified.recovery_codes is None


async def test_a_redelivered_confirmation_carries_the_same_recovery_codes(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register()
    event = drive.submission(drive.code())
    await drive.send(event)
    await drive.send(event)
    first, again = recorder.of(streams.CODE_VERIFIED)
    assert opened_codes(drive, first.recovery_codes) == opened_codes(drive, again.recovery_codes)


async def test_a_second_confirmation_of_the_same_credential_keeps_the_first_codes(
    verification: Any, drive: Driver
) -> None:
    """Two open logins showed the same QR: the second one's enrollment code passes, but
    neither issues nor replaces recovery codes (the user saved the first set)."""
    _, recorder = verification
    first_set = await confirmed_with_codes(drive, recorder)
    drive.clock.advance(seconds=30)
    await drive.submit(drive.code())  # purpose "enrollment", from the other login
    again = recorder.of(streams.CODE_VERIFIED)[-1]
    assert (again.recovery_codes, again.confirms_authenticator) == (None, False)
    await drive.submit(first_set[0], kind="recovery_code")
    used = recorder.of(streams.CODE_VERIFIED)[-1]
    assert (used.kind, used.recovery_codes_left) == ("recovery_code", 9)


async def test_a_recovery_code_works_once_in_any_spelling(verification: Any, drive: Driver) -> None:
    _, recorder = verification
    codes = await confirmed_with_codes(drive, recorder)
    await drive.submit(f" {codes[3].upper()} ", kind="recovery_code")
    await drive.submit(codes[3], kind="recovery_code")
    used = recorder.of(streams.CODE_VERIFIED)[-1]
    assert (used.kind, used.recovery_codes_left, used.step_offset) == ("recovery_code", 9, None)
    [again] = recorder.of(streams.CODE_REJECTED)
    assert (again.reason, again.attempts_left) == ("invalid", 4)


async def test_wrong_recovery_codes_count_toward_the_lockout(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    codes = await confirmed_with_codes(drive, recorder)
    for _ in range(5):
        await drive.submit("aaaaa-aaaaa", kind="recovery_code")
    await drive.submit(codes[0], kind="recovery_code")  # right, but locked now
    rejected = recorder.of(streams.CODE_REJECTED)
    assert [r.reason for r in rejected] == ["invalid"] * 4 + ["locked", "locked"]
    assert [r.locked_now for r in rejected[-2:]] == [True, False]


async def request_codes(
    drive: Driver, credential_id: str = "c1", again: RecoveryCodesRequested | None = None
) -> RecoveryCodesRequested:
    request = again or RecoveryCodesRequested(
        occurred_at=drive.clock.now(),
        correlation_id="l1",
        organization_id="acme",
        user_id="u1",
        login_id="l1",
        credential_id=credential_id,
    )
    await drive.broker.publish(
        request, stream=drive.namespace.stream(streams.RECOVERY_CODES_REQUESTED)
    )
    return request


async def test_a_new_set_of_recovery_codes_retires_the_old_one(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    old = await confirmed_with_codes(drive, recorder)
    request = await request_codes(drive)
    await request_codes(drive, again=request)  # a redelivery: the same set, not a third
    issued, again = recorder.of(streams.RECOVERY_CODES_ISSUED)
    assert issued.request_id == again.request_id == request.event_id
    new = opened_codes(drive, issued.recovery_codes)
    assert opened_codes(drive, again.recovery_codes) == new
    assert (issued.recovery_codes_left, set(new) & set(old)) == (10, set())
    await drive.submit(old[0], kind="recovery_code")
    await drive.submit(new[0], kind="recovery_code")
    assert recorder.of(streams.CODE_REJECTED)[0].reason == "invalid"
    assert recorder.of(streams.CODE_VERIFIED)[-1].recovery_codes_left == 9


async def test_no_recovery_codes_for_a_credential_that_is_not_the_users(
    verification: Any, drive: Driver
) -> None:
    _, recorder = verification
    await drive.register()
    await request_codes(drive, credential_id="c-old")
    [issued] = recorder.of(streams.RECOVERY_CODES_ISSUED)
    assert (issued.recovery_codes, issued.recovery_codes_left) == (None, 0)


async def test_an_unlock_ends_the_lock_and_confirms(verification: Any, drive: Driver) -> None:
    _, recorder = verification
    await drive.register()
    for _ in range(5):
        await drive.submit(drive.code(-120))
    await drive.broker.publish(
        AuthenticatorUnlocked(
            occurred_at=drive.clock.now(),
            correlation_id="op-unlock",
            organization_id="acme",
            user_id="u1",
            requested_by="admin",
        ),
        stream=drive.namespace.stream(streams.AUTHENTICATOR_UNLOCKED),
    )
    [applied] = recorder.of(streams.AUTHENTICATOR_RESET_APPLIED)
    assert (applied.correlation_id, applied.service) == ("op-unlock", "verification")
    await drive.submit(drive.code())
    assert len(recorder.of(streams.CODE_VERIFIED)) == 1


async def test_the_step_offset_of_each_match_is_reported_and_measured(
    verification: Any, drive: Driver, registry: CollectorRegistry
) -> None:
    _, recorder = verification
    await drive.register()
    await drive.submit(drive.code(30))  # an app clock one step ahead
    [verified] = recorder.of(streams.CODE_VERIFIED)
    assert verified.step_offset == 1
    assert registry.get_sample_value("mfa_totp_step_offset_bucket", {"le": "0.5"}) == 0
    assert registry.get_sample_value("mfa_totp_step_offset_bucket", {"le": "1.5"}) == 1
