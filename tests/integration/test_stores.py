"""Stores against the MongoDB wire server over TCP (or MONGODB_URL)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from services.enrollment.domain import new_credential
from services.enrollment.store import CredentialStore
from services.gateway.stores.organizations import Organizations
from services.policy.store import NO_POLICY, PolicyStore
from services.verification.domain import Answer, GuardState, Rejected
from services.verification.store import AuthenticatorStore
from shared.crypto import Keyring, SecretBox, credential_context
from shared.events import PolicyRules
from shared.identity import UserRef
from tests.conftest import Namespace

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
BOX = SecretBox(Keyring.parse(Keyring.generate_spec("k")))
U1 = UserRef("acme", "u1")


@pytest.fixture
async def db(mongodb_url: str, namespace: Namespace) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield client[f"{namespace.database_prefix}store"]
    await client.close()


async def test_only_one_of_two_concurrent_state_changes_wins(db: Any) -> None:
    store = AuthenticatorStore(db)
    await store.register(U1, "c1", BOX.seal("s", "ctx"), NOW)
    current = await store.get(U1)
    assert current is not None
    outcome = Rejected("invalid", 4)
    results = await asyncio.gather(
        *(
            store.save(current, GuardState(failures=1), {f"e{i}": Answer(outcome, NOW)})
            for i in range(5)
        )
    )
    assert sorted(results) == [False, False, False, False, True]
    stored = await store.get(U1)
    assert stored is not None
    assert (stored.state.failures, stored.version) == (1, current.version + 1)
    [(winner, answer)] = stored.answers.items()  # the answer written with the state
    assert results[int(winner.removeprefix("e"))]
    assert answer == Answer(outcome, NOW)


async def test_registering_the_same_credential_twice_keeps_its_replay_state(db: Any) -> None:
    store = AuthenticatorStore(db)
    assert await store.register(U1, "c1", BOX.seal("s", "ctx"), NOW)
    current = await store.get(U1)
    assert current is not None
    await store.save(current, GuardState(last_step=99), {"e1": Answer(Rejected("invalid", 4), NOW)})
    assert not await store.register(U1, "c1", BOX.seal("s", "ctx"), NOW)
    again = await store.get(U1)
    assert again is not None
    assert again.state.last_step == 99


async def test_two_logins_racing_to_enroll_store_one_credential(db: Any) -> None:
    store = CredentialStore(db)
    first = new_credential(U1, "a@b.c", NOW, timedelta(minutes=10))
    second = new_credential(U1, "a@b.c", NOW, timedelta(minutes=10))
    won = await asyncio.gather(
        store.put_new(first, BOX.seal("a", "x"), None),
        store.put_new(second, BOX.seal("b", "x"), None),
    )
    assert sorted(won) == [False, True]


async def test_a_confirmed_credential_is_never_replaced_by_a_new_offer(db: Any) -> None:
    store = CredentialStore(db)
    first = new_credential(U1, "a@b.c", NOW, timedelta(minutes=10))
    await store.put_new(first, BOX.seal("a", "x"), None)
    assert await store.confirm(U1, first.credential_id, NOW)
    second = new_credential(U1, "a@b.c", NOW, timedelta(minutes=10))
    assert not await store.put_new(second, BOX.seal("b", "x"), replacing=first)
    found = await store.get(U1)
    assert found is not None
    assert found[0].credential_id == first.credential_id


async def test_the_same_user_id_in_two_organizations_is_two_users(db: Any) -> None:
    credentials, authenticators = CredentialStore(db), AuthenticatorStore(db)
    acme, globex = UserRef("acme", "ada"), UserRef("globex", "ada")
    for user, secret in ((acme, "a"), (globex, "b")):
        credential = new_credential(user, "ada@example.com", NOW, timedelta(minutes=10))
        sealed = BOX.seal(secret, credential_context(user, credential.credential_id))
        assert await credentials.put_new(credential, sealed, None)
        assert await authenticators.register(user, credential.credential_id, sealed, NOW)
    found_acme, found_globex = await credentials.get(acme), await credentials.get(globex)
    assert found_acme is not None
    assert found_globex is not None
    assert found_acme[0].credential_id != found_globex[0].credential_id
    await authenticators.forget(acme, requested_at=NOW)
    assert await authenticators.get(acme) is None
    assert await authenticators.get(globex) is not None


class _Finds(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += event.command_name == "find"

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def counted(mongodb_url: str, namespace: Namespace) -> AsyncIterator[tuple[Any, _Finds]]:
    """A database whose client counts the finds it sends."""
    finds = _Finds()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        mongodb_url, tz_aware=True, event_listeners=[finds]
    )
    yield client[f"{namespace.database_prefix}counted"], finds
    await client.close()


async def test_a_policy_that_lists_nobody_decides_in_one_read(
    counted: tuple[Any, _Finds],
) -> None:
    db, finds = counted
    store = PolicyStore(db)
    listed = await store.save(
        "acme", NO_POLICY, PolicyRules(users=["Ann@Example.com"]), {}, NOW, "admin", NOW
    )
    assert listed is not None
    finds.count = 0
    assert (await store.snapshot_for(UserRef("acme", "ann"), "ann@example.com")).lists_user
    assert finds.count == 2  # the small fields, then whether this user is listed
    by_type = PolicyRules(user_types=["editor"])
    assert await store.save("acme", listed, by_type, {}, NOW, "admin", NOW) is not None
    finds.count = 0
    snapshot = await store.snapshot_for(UserRef("acme", "ann"), "ann@example.com")
    assert (snapshot.lists_user, snapshot.user_types, finds.count) == (False, {"editor"}, 1)


async def test_an_organization_once_read_is_known_without_a_read(
    counted: tuple[Any, _Finds],
) -> None:
    db, finds = counted
    registry = Organizations(db)
    assert await registry.get("acme") is None  # an unknown one is asked again next time
    await registry.create("acme", "Acme", "Acme Issuer", NOW)
    first = await registry.get("acme")
    finds.count = 0
    assert await registry.get("acme") == first is not None
    assert finds.count == 0
