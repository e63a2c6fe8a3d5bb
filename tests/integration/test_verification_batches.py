"""A batch of code checks against the real database server (issue 22): one read and
one bulk of compare-and-set writes, and exactly the writes that landed reported."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.verification.domain import Answer, GuardState, Rejected
from services.verification.store import AuthenticatorStore, GuardedWrite
from shared.crypto import Keyring, SecretBox
from shared.identity import UserRef
from tests.conftest import Namespace

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
BOX = SecretBox(Keyring.parse(Keyring.generate_spec("k")))
REFUSED = Rejected("invalid", 4)


@pytest.fixture
async def store(mongodb_url: str, namespace: Namespace) -> AsyncIterator[AuthenticatorStore]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield AuthenticatorStore(client[f"{namespace.database_prefix}batches"])
    await client.close()


def failed_once(event_id: str, current: Any) -> GuardedWrite:
    answers = {event_id: Answer(REFUSED, NOW)}
    return GuardedWrite(event_id, current, GuardState(failures=1), answers)


async def test_a_batch_reads_once_and_writes_every_users_answer(store: AuthenticatorStore) -> None:
    users = [UserRef("acme", f"u{i}") for i in range(150)]  # more than one bulk of 100
    for user in users:
        await store.register(user, "c1", BOX.seal("s", "ctx"), NOW)
    held = await store.get_many([*users, UserRef("acme", "nobody")])
    assert sorted(held) == sorted(u.key for u in users)
    writes = [failed_once(f"e{i}", held[u.key]) for i, u in enumerate(users)]
    assert await store.save_many(writes) == {f"e{i}" for i in range(150)}
    stored = await store.get(users[149])
    assert stored is not None
    assert stored.answers["e149"] == Answer(REFUSED, NOW)


async def test_of_two_writes_to_one_authenticator_in_a_batch_exactly_one_lands(
    store: AuthenticatorStore,
) -> None:
    ada, bob = UserRef("acme", "ada"), UserRef("acme", "bob")
    for user in (ada, bob):
        await store.register(user, "c1", BOX.seal("s", "ctx"), NOW)
    held = await store.get_many([ada, bob])
    writes = [
        failed_once("ada-1", held[ada.key]),
        failed_once("ada-2", held[ada.key]),  # read at the same version: a conflict
        failed_once("bob-1", held[bob.key]),
    ]
    landed = await store.save_many(writes)
    assert "bob-1" in landed
    assert len(landed & {"ada-1", "ada-2"}) == 1  # the loser is left to be checked again
    stored = await store.get(ada)
    assert stored is not None
    assert set(stored.answers) == landed - {"bob-1"}
