"""Passkey handlers on the test broker: enrollment registers (once per submission, and
answers a redelivery the same), verification adopts, challenges and checks (once per
challenge)."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.redis import TestRedisBroker

from services.enrollment.app import create_app as enrollment_app
from services.enrollment.ceremony import registration_options, verify_registration
from services.enrollment.settings import EnrollmentSettings
from services.verification.app import create_app as verification_app
from services.verification.settings import VerificationSettings
from shared import streams
from shared.clock import FixedClock
from shared.crypto import SecretBox, code_context, recovery_codes_context
from shared.events import (
    CodeKind,
    CodeRejected,
    CodeSubmitted,
    CodeVerified,
    CredentialRegistered,
    EnrollmentIssued,
    LoginDecided,
    Passkey,
    PasskeyChallenged,
    RelyingParty,
)
from shared.identity import UserRef
from shared.passkeys import Challenge
from tests.component.conftest import Recorder
from tests.conftest import Namespace
from tests.soft_authenticator import SoftAuthenticator

ORIGIN = "http://localhost:8000"
PARTY = RelyingParty(id="localhost", name="Acme", origins=(ORIGIN,))
U1 = UserRef("acme", "u1")


class Sender:
    def __init__(self, broker: Any, namespace: Namespace, clock: FixedClock, box: SecretBox):
        self.broker, self.namespace, self.clock, self.box = broker, namespace, clock, box

    async def send(self, stream: str, event: Any) -> None:
        await self.broker.publish(event, stream=self.namespace.stream(stream))

    def submission(
        self, login_id: str, submission_id: str, answer: dict[str, Any], credential_id: str
    ) -> CodeSubmitted:
        return CodeSubmitted(
            occurred_at=self.clock.now(),
            correlation_id=login_id,
            organization_id="acme",
            login_id=login_id,
            submission_id=submission_id,
            user_id="u1",
            credential_id=credential_id,
            purpose="enrollment" if login_id.startswith("reg") else "login",
            code=self.box.seal(json.dumps(answer), code_context(login_id, submission_id)),
            kind="passkey",
        )


@pytest.fixture
async def enrollment(
    service_env: dict[str, Any], namespace: Namespace, clock: FixedClock
) -> AsyncIterator[tuple[Sender, Recorder]]:
    settings = EnrollmentSettings(**service_env)
    app = enrollment_app(settings, clock)
    recorder = Recorder(app.broker, namespace)
    recorder.watch(streams.ENROLLMENT_ISSUED, EnrollmentIssued)
    recorder.watch(streams.CREDENTIAL_REGISTERED, CredentialRegistered)
    recorder.watch(streams.CODE_REJECTED, CodeRejected)
    async with TestRedisBroker(app.broker) as broker:
        yield Sender(broker, namespace, clock, SecretBox(settings.keyring)), recorder


def decided(clock: FixedClock, login_id: str, kinds: tuple[Any, ...]) -> LoginDecided:
    return LoginDecided(
        occurred_at=clock.now(),
        correlation_id=login_id,
        organization_id="acme",
        login_id=login_id,
        user_id="u1",
        email="ada@example.com",
        mfa_required=True,
        reason="user",
        policy_version=1,
        relying_party=PARTY,
        kinds=kinds,
    )


async def test_a_required_passkey_is_offered_without_a_qr_and_registers_once(
    enrollment: tuple[Sender, Recorder], clock: FixedClock
) -> None:
    sender, recorder = enrollment
    await sender.send(streams.LOGIN_DECIDED, decided(clock, "reg-1", ("passkey",)))
    [issued] = recorder.of(streams.ENROLLMENT_ISSUED)
    assert (issued.state, issued.kinds, issued.otpauth_uri) == ("pending", ("passkey",), None)
    assert recorder.of(streams.CREDENTIAL_REGISTERED) == []  # no app secret made at all
    options = json.loads(issued.passkey_registration)
    assert options["rp"] == {"id": "localhost", "name": "Acme"}

    answer = SoftAuthenticator(ORIGIN).create(options)
    submitted = sender.submission("reg-1", "s1", answer, issued.credential_id)
    await sender.send(streams.PASSKEY_REGISTRATION_SUBMITTED, submitted)
    await sender.send(streams.PASSKEY_REGISTRATION_SUBMITTED, submitted)  # a redelivery
    first, again = recorder.of(streams.CREDENTIAL_REGISTERED)
    assert first.kind == "passkey"
    assert first.voids_app_secret
    assert first.submission_id == "s1"
    assert first.passkey == again.passkey  # answered the same, registered once

    other = sender.submission("reg-1", "s2", SoftAuthenticator(ORIGIN).create(options), "x")
    await sender.send(streams.PASSKEY_REGISTRATION_SUBMITTED, other)
    [refused] = recorder.of(streams.CODE_REJECTED)
    assert (refused.kind, refused.attempts_left, refused.reason) == ("passkey", None, "invalid")


async def test_an_attestation_for_another_origin_is_refused_and_leaves_the_challenge(
    enrollment: tuple[Sender, Recorder], clock: FixedClock
) -> None:
    sender, recorder = enrollment
    await sender.send(streams.LOGIN_DECIDED, decided(clock, "reg-2", ("passkey", "totp")))
    [issued] = recorder.of(streams.ENROLLMENT_ISSUED)
    assert issued.otpauth_uri is not None  # the app is offered beside it
    options = json.loads(issued.passkey_registration)
    phished = SoftAuthenticator("https://phish.example").create(options)
    await sender.send(
        streams.PASSKEY_REGISTRATION_SUBMITTED,
        sender.submission("reg-2", "s1", phished, issued.credential_id),
    )
    [refused] = recorder.of(streams.CODE_REJECTED)
    assert refused.reason == "invalid"
    honest = SoftAuthenticator(ORIGIN).create(options)
    await sender.send(
        streams.PASSKEY_REGISTRATION_SUBMITTED,
        sender.submission("reg-2", "s2", honest, issued.credential_id),
    )
    [registered] = [e for e in recorder.of(streams.CREDENTIAL_REGISTERED) if e.kind == "passkey"]
    assert registered.submission_id == "s2"


def registered_passkey(authenticator: SoftAuthenticator, clock: FixedClock) -> Passkey:
    """A passkey as enrollment publishes it, registered by ``authenticator``."""
    options, raw = registration_options(PARTY, "Acme", b"h" * 32, "ada", (), "preferred")
    made = Challenge.for_party("reg", U1, raw, PARTY, "preferred", clock.now())
    answer = json.dumps(authenticator.create(json.loads(options)))
    return verify_registration(answer, made, clock.now(), "Passkey 1")


@pytest.fixture
async def verification(
    service_env: dict[str, Any], namespace: Namespace, clock: FixedClock
) -> AsyncIterator[tuple[Sender, Recorder]]:
    settings = VerificationSettings(**service_env, credential_wait_seconds=0.2)
    app = verification_app(settings, clock)
    recorder = Recorder(app.broker, namespace)
    recorder.watch(streams.CODE_VERIFIED, CodeVerified)
    recorder.watch(streams.CODE_REJECTED, CodeRejected)
    recorder.watch(streams.PASSKEY_CHALLENGED, PasskeyChallenged)
    async with TestRedisBroker(app.broker) as broker:
        yield Sender(broker, namespace, clock, SecretBox(settings.keyring)), recorder


async def test_verification_adopts_challenges_and_accepts_each_challenge_once(
    verification: tuple[Sender, Recorder], clock: FixedClock
) -> None:
    sender, recorder = verification
    authenticator = SoftAuthenticator(ORIGIN)
    passkey = registered_passkey(authenticator, clock)
    await sender.send(
        streams.CREDENTIAL_REGISTERED,
        CredentialRegistered(
            occurred_at=clock.now(),
            correlation_id="reg",
            organization_id="acme",
            user_id="u1",
            login_id="reg",
            credential_id="anchor",
            kind="passkey",
            passkey=passkey,
            created_at=clock.now(),
            submission_id="s0",
            voids_app_secret=True,
        ),
    )
    [confirmed] = recorder.of(streams.CODE_VERIFIED)
    assert (confirmed.purpose, confirmed.kind, confirmed.passkey_id) == (
        "enrollment",
        "passkey",
        passkey.id,
    )
    box = sender.box
    assert confirmed.recovery_codes is not None
    assert len(json.loads(box.open(confirmed.recovery_codes, recovery_codes_context("reg")))) == 10

    await sender.send(
        streams.ENROLLMENT_ISSUED,
        EnrollmentIssued(
            occurred_at=clock.now(),
            correlation_id="in",
            organization_id="acme",
            user_id="u1",
            login_id="in",
            credential_id="anchor",
            state="enrolled",
            kinds=("passkey",),
            relying_party=PARTY,
            credential_created_at=clock.now(),
            confirmed_at=clock.now(),
        ),
    )
    [challenged] = recorder.of(streams.PASSKEY_CHALLENGED)
    options = json.loads(challenged.passkey_authentication)
    assert [c["id"] for c in options["allowCredentials"]] == [passkey.id]
    answer = authenticator.get(options)
    kind: CodeKind = "passkey"
    for submission in ("s1", "s2"):  # the same assertion twice: the challenge goes once
        event = sender.submission("in", submission, answer, "anchor")
        assert event.kind == kind
        await sender.send(streams.CODE_SUBMITTED, event)
    verified = [e for e in recorder.of(streams.CODE_VERIFIED) if e.purpose == "login"]
    assert [(e.submission_id, e.passkey_id) for e in verified] == [("s1", passkey.id)]
    [replayed] = recorder.of(streams.CODE_REJECTED)
    assert (replayed.submission_id, replayed.reason, replayed.attempts_left) == ("s2", "reused", 4)
