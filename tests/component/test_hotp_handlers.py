"""An HOTP token (RFC 4226) at verification, on the test broker: registered with its
counter, its code accepted once, the counter moved on in the same write, and a second
replica's read of the same code refused as a replay."""

import asyncio
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.redis import TestRedisBroker

from services.verification.app import create_app
from services.verification.domain import LockoutRules
from services.verification.hotp import HotpRules, check_hotp
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared import streams
from shared.clock import FixedClock
from shared.crypto import SecretBox, code_context, credential_context
from shared.events import CodeRejected, CodeSubmitted, CodeVerified, CredentialRegistered
from shared.identity import UserRef
from shared.mongo import connect, service_database
from tests.component.conftest import Recorder
from tests.conftest import Namespace

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
U1 = UserRef("acme", "u1")


def oathtool(counter: int) -> str:
    done = subprocess.run(
        ["oathtool", "--hotp", f"--counter={counter}", "--base32", SECRET],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def settings(service_env: dict[str, Any]) -> VerificationSettings:
    return VerificationSettings(**service_env, credential_wait_seconds=0.2)


@pytest.fixture
async def verification(
    settings: VerificationSettings, namespace: Namespace, clock: FixedClock
) -> AsyncIterator[tuple[Any, Recorder]]:
    app = create_app(settings, clock)
    recorder = Recorder(app.broker, namespace)
    recorder.watch(streams.CODE_VERIFIED, CodeVerified)
    recorder.watch(streams.CODE_REJECTED, CodeRejected)
    async with TestRedisBroker(app.broker) as broker:
        yield broker, recorder


async def test_a_token_code_is_accepted_once_and_the_counter_moves_on(
    verification: tuple[Any, Recorder],
    settings: VerificationSettings,
    namespace: Namespace,
    clock: FixedClock,
) -> None:
    broker, recorder = verification
    box = SecretBox(settings.keyring)
    await broker.publish(
        CredentialRegistered(
            occurred_at=clock.now(),
            correlation_id="import-1",
            organization_id="acme",
            user_id="u1",
            credential_id="token-1",
            secret=box.seal(SECRET, credential_context(U1, "token-1")),
            created_at=clock.now(),
            counter=7,
        ),
        stream=namespace.stream(streams.CREDENTIAL_REGISTERED),
    )

    async def submit(submission: str, code: str) -> None:
        await broker.publish(
            CodeSubmitted(
                occurred_at=clock.now(),
                correlation_id="login-1",
                organization_id="acme",
                login_id="login-1",
                submission_id=submission,
                user_id="u1",
                credential_id="token-1",
                purpose="login",
                code=box.seal(code, code_context("login-1", submission)),
            ),
            stream=namespace.stream(streams.CODE_SUBMITTED),
        )

    await submit("s1", oathtool(9))  # pressed twice without signing in: ahead, accepted
    await submit("s2", oathtool(9))  # the same code again
    await submit("s3", oathtool(8))  # behind the counter now
    await submit("s4", oathtool(10))
    assert [e.submission_id for e in recorder.of(streams.CODE_VERIFIED)] == ["s1", "s4"]
    assert [(e.submission_id, e.reason) for e in recorder.of(streams.CODE_REJECTED)] == [
        ("s2", "reused"),
        ("s3", "reused"),
    ]
    assert all(e.step_offset in (None, 0) for e in recorder.of(streams.CODE_VERIFIED))

    client = connect(settings)
    try:
        store = AuthenticatorStore(service_database(client, settings))
        held = await store.get(U1)
        assert held is not None
        assert (held.hotp, held.state.last_step) == (True, 10)

        # Two replicas read the same state and check the same next code: one write wins.
        rules, lockout = HotpRules(), LockoutRules()
        checked = [
            check_hotp(held.state, SECRET, oathtool(11), clock.now(), rules, lockout)
            for _ in range(2)
        ]
        saved = await asyncio.gather(
            *(store.save(held, state, held.answers) for state, _ in checked)
        )
        assert sorted(saved) == [False, True]
        again = await store.get(U1)
        assert again is not None
        _, replayed = check_hotp(again.state, SECRET, oathtool(11), clock.now(), rules, lockout)
        assert getattr(replayed, "reason", None) == "reused"
    finally:
        await client.close()
