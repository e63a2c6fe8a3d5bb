"""The demo directory's password checks, on the real database."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.gateway.web.directory import DirectoryUser, UserDirectory
from tests.conftest import Namespace

ADA = DirectoryUser("acme", "ada", "ada@example.com", "admin")
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def directory(mongodb_url: str, namespace: Namespace) -> AsyncIterator[UserDirectory]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, tz_aware=True)
    directory = UserDirectory(client[f"{namespace.database_prefix}gateway"])
    await directory.put(ADA, PASSWORD)
    yield directory
    await client.close()


async def test_checking_a_password_leaves_the_event_loop_free(directory: UserDirectory) -> None:
    ticks, checking = 0, True

    async def ticker() -> None:
        nonlocal ticks
        while checking:
            ticks += 1
            await asyncio.sleep(0.001)

    running = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    for email in ("ADA@example.com", "nobody@example.com"):  # a user, and the dummy hash
        await directory.authenticate(email, PASSWORD)
    during, checking = ticks - before, False
    await running
    assert during >= 40  # argon2 takes ~0.2 s a check; a blocked loop ticks not at all


async def test_the_right_password_signs_in_and_nothing_else_does(
    directory: UserDirectory,
) -> None:
    assert await directory.authenticate(" Ada@Example.com ", PASSWORD) == ADA
    assert await directory.authenticate("ada@example.com", PASSWORD + "!") is None
    assert await directory.authenticate("nobody@example.com", PASSWORD) is None


def test_importing_the_directory_computes_no_hash() -> None:
    probe = "import services.gateway.web.directory as d; print(d._dummy_hash.cache_info().currsize)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "0"
