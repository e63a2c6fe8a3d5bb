"""Data from before organizations, moved into the default organization at start (each
service's upgrade.py)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.enrollment import upgrade as enrollment_upgrade
from services.enrollment.store import CredentialStore
from services.gateway import upgrade as gateway_upgrade
from services.gateway.stores.read_models import PolicyView
from services.gateway.web.directory import UserDirectory
from services.policy import upgrade as policy_upgrade
from services.policy.store import PolicyStore
from services.verification import upgrade as verification_upgrade
from services.verification.store import AuthenticatorStore
from shared.crypto import Keyring, SecretBox, credential_context
from shared.identity import UserRef
from tests.conftest import Namespace

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
BOX = SecretBox(Keyring.parse(Keyring.generate_spec("k")))
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
async def db(mongodb_url: str, namespace: Namespace) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield client[f"{namespace.database_prefix}upgrade"]
    await client.close()


def old_credential(user_id: str, credential_id: str) -> dict[str, Any]:
    """A credential as the enrollment service stored it before organizations."""
    return {
        "_id": user_id,
        "credential_id": credential_id,
        "account": "ada@example.com",
        "secret": BOX.seal(SECRET, f"credential:{user_id}:{credential_id}").model_dump(),
        "created_at": NOW,
        "offer_expires_at": NOW,
        "confirmed_at": NOW,
    }


async def test_credentials_move_to_the_default_organization_with_secrets_sealed_anew(
    db: Any,
) -> None:
    await db.credentials.insert_many([old_credential("Ada", "c1"), old_credential("a/b?c", "c2")])
    await enrollment_upgrade.bring_into_organizations(db, BOX)
    found = await CredentialStore(db).get(UserRef("default", "ada"))
    assert found is not None
    credential, sealed = found
    assert credential.credential_id == "c1"
    assert BOX.open(sealed, credential_context(credential.user, "c1")) == SECRET
    assert await db.credentials.find_one({"_id": "a/b?c"}) is not None  # no login can name it
    marker = await db.migrations.find_one({"_id": "organizations"})
    assert marker is not None
    assert marker["moved"] == 1


async def test_authenticators_keep_their_replay_and_lock_state_when_moved(db: Any) -> None:
    old = old_credential("VIP-User", "c1")
    old.update(last_step=12345, failures=3, locked_until=None, locks=1, version=7)
    await db.authenticators.insert_one(old)
    await verification_upgrade.bring_into_organizations(db, BOX)
    moved = await AuthenticatorStore(db).get(UserRef("default", "vip-user"))
    assert moved is not None
    assert (moved.state.last_step, moved.state.failures, moved.state.locks) == (12345, 3, 1)
    assert BOX.open(moved.secret, credential_context(moved.user, "c1")) == SECRET


async def test_two_spellings_of_one_user_keep_the_first_one_moved(db: Any) -> None:
    await db.credentials.insert_many(
        [old_credential("VIP-User", "c1"), old_credential("vip-user", "c2")]
    )
    await enrollment_upgrade.bring_into_organizations(db, BOX)
    assert await db.credentials.count_documents({}) == 1
    found = await CredentialStore(db).get(UserRef("default", "vip-user"))
    assert found is not None
    assert found[0].credential_id == "c1"


async def test_the_one_policy_becomes_the_default_organizations_once(db: Any) -> None:
    await db.policies.insert_one(
        {
            "_id": "current",
            "all_users": False,
            "user_types": ["editor"],
            "users": ["VIP@x.io"],
            "version": 4,
            "updated_at": NOW,
        }
    )
    await policy_upgrade.bring_into_organizations(db)
    await policy_upgrade.bring_into_organizations(db)
    store = PolicyStore(db)
    listed = await store.snapshot_for(UserRef("default", "someone"), "vip@x.io")
    assert (listed.version, listed.lists_user, listed.user_types) == (4, True, {"editor"})
    other = await store.snapshot_for(UserRef("acme", "someone"), "vip@x.io")
    assert (other.version, other.lists_user) == (0, False)
    assert await db.migrations.count_documents({"_id": "organizations"}) == 1


async def test_the_gateways_logins_policy_view_and_directory_move_too(db: Any) -> None:
    await db.policy_view.insert_one({"_id": "current", "all_users": True, "version": 2})
    await db.logins.insert_one({"_id": "l1", "user_id": "ada", "status": "authenticated"})
    await db.users.insert_one(
        {"_id": "Ada", "email": "ada@example.com", "user_type": "admin", "password_hash": "x"}
    )
    await gateway_upgrade.bring_into_organizations(db)
    assert (await PolicyView(db).current("default")).version == 2
    login = await db.logins.find_one({"_id": "l1"})
    assert login["organization_id"] == "default"
    directory = UserDirectory(db)
    ada = await directory.find("default", "ADA")
    assert ada is not None
    assert (ada.organization_id, ada.user_id, ada.user_type) == ("default", "ada", "admin")
    assert await directory.find("acme", "ada") is None
