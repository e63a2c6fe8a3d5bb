"""The batched consumers on the real Redis and database server (issue 22): entries read
together, a conflicting pair inside one batch, an unreadable entry; enrollment's and
policy's batches answer each login on its own terms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
import redis.asyncio as aioredis
from faststream.redis import TestApp
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from services.enrollment.app import create_app as create_enrollment
from services.enrollment.domain import new_credential
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.store import CredentialStore
from services.policy.app import create_app as create_policy
from services.policy.settings import PolicySettings
from services.verification.app import create_app
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared import streams
from shared.clock import SystemClock
from shared.crypto import SecretBox, code_context, credential_context
from shared.events import CodeSubmitted, LoginDecided
from shared.identity import UserRef
from tests.conftest import Namespace
from tests.events import login_attempted
from tests.integration.test_streams import entries

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


def submitted(box: SecretBox, user: str, submission: str, code: str) -> bytes:
    event = CodeSubmitted(
        occurred_at=datetime.now(UTC),
        correlation_id=f"login-{submission}",
        organization_id="acme",
        login_id=f"login-{submission}",
        submission_id=submission,
        user_id=user,
        credential_id="c1",
        purpose="login",
        code=box.seal(code, code_context(f"login-{submission}", submission)),
    )
    return event.model_dump_json().encode()


async def test_one_code_twice_in_a_batch_passes_once_and_the_batch_goes_on(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    settings = VerificationSettings(**service_env, batch_size=50)
    box = SecretBox(settings.keyring)
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_url.get_secret_value())
    store = AuthenticatorStore(client[settings.database])
    now = datetime.now(UTC)
    for user in ("ada", "bob"):
        ref = UserRef("acme", user)
        await store.register(ref, "c1", box.seal(SECRET, credential_context(ref, "c1")), now)
    await client.close()
    code = pyotp.TOTP(SECRET).now()
    source = namespace.stream(streams.CODE_SUBMITTED)
    # Waiting before the service starts: the first read takes all four together.
    await redis.xadd(source, {"__data__": submitted(box, "ada", "s1", code)})
    await redis.xadd(source, {"__data__": b'{"not": "an event"}'})
    await redis.xadd(source, {"__data__": submitted(box, "ada", "s2", code)})  # the same code
    await redis.xadd(source, {"__data__": submitted(box, "bob", "s3", code)})
    app = create_app(settings, SystemClock(), CollectorRegistry())
    async with TestApp(app):
        verified = await entries(redis, namespace.stream(streams.CODE_VERIFIED), 2)
        rejected = await entries(redis, namespace.stream(streams.CODE_REJECTED), 1)
        letters = await entries(redis, namespace.stream(streams.DEAD_LETTER), 1)
        await asyncio.sleep(0.2)
        pending = (await redis.xpending(source, streams.VERIFICATION_GROUP))["pending"]
    assert sorted(v["submission_id"] for v in verified) == ["s1", "s3"]
    assert [(r["submission_id"], r["reason"]) for r in rejected] == [("s2", "reused")]
    [letter] = letters
    assert "invalid payload" in letter["error"]
    assert pending == 0  # all four acknowledged: none waits for the reclaimer


def decided(login_id: str, user: str, required: bool = True) -> bytes:
    return (
        LoginDecided(
            occurred_at=datetime.now(UTC),
            correlation_id=login_id,
            organization_id="acme",
            login_id=login_id,
            user_id=user,
            email=f"{user}@example.com",
            mfa_required=required,
            reason="user_type" if required else "not_applicable",
            policy_version=1,
        )
        .model_dump_json()
        .encode()
    )


async def test_enrollment_answers_a_batch_of_daily_logins_new_users_and_uncovered_ones(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    settings = EnrollmentSettings(**service_env, batch_size=50)
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_url.get_secret_value())
    now = datetime.now(UTC)
    enrolled = new_credential(UserRef("acme", "ada"), "ada@example.com", now, timedelta(0))
    await CredentialStore(client[settings.database]).put_new(
        replace(enrolled, confirmed_at=now), None, replacing=None
    )
    await client.close()
    source = namespace.stream(streams.LOGIN_DECIDED)
    for login_id, user, required in (("l1", "ada", True), ("l2", "bob", True), ("l3", "cy", False)):
        await redis.xadd(source, {"__data__": decided(login_id, user, required)})
    async with TestApp(create_enrollment(settings, SystemClock(), CollectorRegistry())):
        issued = await entries(redis, namespace.stream(streams.ENROLLMENT_ISSUED), 2)
        await asyncio.sleep(0.3)
        issued = await entries(redis, namespace.stream(streams.ENROLLMENT_ISSUED), 3, within=0)
        pending = (await redis.xpending(source, streams.ENROLLMENT_GROUP))["pending"]
    states = {i["login_id"]: (i["state"], i["otpauth_uri"] is not None) for i in issued}
    assert states == {"l1": ("enrolled", False), "l2": ("pending", True)}  # cy: none
    assert pending == 0


async def test_policy_decides_a_batch_each_login_on_its_own_terms(
    redis: Any, namespace: Namespace, service_env: dict[str, Any]
) -> None:
    source = namespace.stream(streams.LOGIN_ATTEMPTED)
    for n in range(5):
        attempt = login_attempted(f"a{n}", datetime.now(UTC), user_id=f"u{n}")
        attempt = attempt.model_copy(update={"require_mfa": n % 2 == 0})
        await redis.xadd(source, {"__data__": attempt.model_dump_json().encode()})
    settings = PolicySettings(**service_env, batch_size=50)
    async with TestApp(create_policy(settings, SystemClock(), CollectorRegistry())):
        answers = await entries(redis, namespace.stream(streams.LOGIN_DECIDED), 5)
    required = {a["login_id"]: a["mfa_required"] for a in answers}
    assert required == {f"a{n}": n % 2 == 0 for n in range(5)}
