"""Passkeys in the stores, against the MongoDB wire server over TCP (or MONGODB_URL):
each challenge is taken once, whoever races for it."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.enrollment.domain import new_credential
from services.enrollment.store import CredentialStore
from services.verification.domain import Answer, GuardState, PasskeyAccepted
from services.verification.store import AuthenticatorStore, PasskeyUse
from shared.events import Passkey, RelyingParty
from shared.identity import UserRef
from shared.passkeys import Challenge
from tests.conftest import Namespace

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
USER = UserRef("acme", "ada")
PARTY = RelyingParty(id="localhost", origins=("http://localhost:8000",))


@pytest.fixture
async def db(mongodb_url: str, namespace: Namespace) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield client[f"{namespace.database_prefix}passkeys"]
    await client.close()


def passkey(name: str, created_at: datetime = NOW) -> Passkey:
    return Passkey(id=name, public_key="pk-" + name, sign_count=0, created_at=created_at)


def challenge(login_id: str, value: str = "c") -> Challenge:
    return Challenge.for_party(
        login_id, USER, value.encode(), PARTY, "preferred", NOW + timedelta(minutes=10)
    )


async def test_two_replicas_answering_one_challenge_take_it_once(db: Any) -> None:
    store = AuthenticatorStore(db)
    assert await store.adopt_passkey(USER, None, "anchor", passkey("p1"), True, {}, None)
    held = await store.get(USER)
    assert held is not None
    assert await store.open_challenge(held, challenge("login-1"), NOW)
    held = await store.get(USER)
    assert held is not None
    assert "login-1" in held.challenges

    def take(event_id: str) -> Any:
        answer = Answer(PasskeyAccepted("p1", 1), NOW)
        used = PasskeyUse("login-1", "p1", 1, NOW)
        return store.save(held, GuardState(), {event_id: answer}, None, used)

    won = await asyncio.gather(take("first"), take("second"))
    assert sorted(won) == [False, True]
    after = await store.get(USER)
    assert after is not None
    assert "login-1" not in after.challenges  # taken in the same write as the answer
    assert after.passkeys["p1"].sign_count == 1
    assert len(after.answers) == 1


async def test_a_registration_takes_its_challenge_once_and_confirms_the_authenticator(
    db: Any,
) -> None:
    store = CredentialStore(db)
    pending = new_credential(USER, "ada@example.com", NOW, timedelta(minutes=10), totp=False)
    assert await store.put_new(pending, None, replacing=None)
    opened = challenge("login-1")
    assert await store.open_registration(pending, opened, NOW)
    found = await store.get(USER)
    assert found is not None
    credential = found[0]
    assert credential.registration("login-1") == opened
    results = await asyncio.gather(
        store.register_passkey(credential, opened, passkey("p1"), "s1", NOW),
        store.register_passkey(credential, opened, passkey("p2"), "s2", NOW),
    )
    assert sorted(results) == [False, True]
    found = await store.get(USER)
    assert found is not None
    after, secret = found
    assert (after.confirmed, after.totp, secret) == (True, False, None)
    assert len(after.passkeys) == 1
    assert after.registration("login-1") is None
    assert after.registered_by("s1" if results[0] else "s2") == after.passkeys[0]


async def test_no_more_than_ten_passkeys_and_a_removal_makes_room(db: Any) -> None:
    store = CredentialStore(db)
    made = new_credential(USER, "ada@example.com", NOW, timedelta(minutes=10))
    assert await store.put_new(made, None, replacing=None)
    for n in range(11):
        found = await store.get(USER)
        assert found is not None
        opened = challenge(f"login-{n}", f"c{n}")
        assert await store.open_registration(found[0], opened, NOW)
        current = replace(found[0], confirmed_at=found[0].confirmed_at)
        added = await store.register_passkey(current, opened, passkey(f"p{n}"), f"s{n}", NOW)
        assert added == (n < 10)
    assert await store.remove_passkeys(USER, ("p3", "missing")) == 1
    found = await store.get(USER)
    assert found is not None
    assert len(found[0].passkeys) == 9
    opened = challenge("login-x", "cx")
    assert await store.open_registration(found[0], opened, NOW)
    assert await store.register_passkey(found[0], opened, passkey("px"), "sx", NOW)
