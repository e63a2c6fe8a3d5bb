"""Verification's batched consumer on the real Redis and database server (issue 22):
entries read together, a conflicting pair inside one batch, an unreadable entry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
import redis.asyncio as aioredis
from faststream.redis import TestApp
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from services.verification.app import create_app
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared import streams
from shared.clock import SystemClock
from shared.crypto import SecretBox, code_context, credential_context
from shared.events import CodeSubmitted
from shared.identity import UserRef
from tests.conftest import Namespace
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
