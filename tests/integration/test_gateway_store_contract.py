"""The same scenarios on the gateway's MongoDB stores and on their in-memory fakes
(tests/gateway_fakes.py): a fake that behaves otherwise fails here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.gateway.domain.login import (
    Ask,
    CodeOutcome,
    Login,
    PendingEnrollment,
    asked,
    passed_by_code,
)
from services.gateway.stores.audit import AuditEvent, AuditLog
from services.gateway.stores.devices import RememberedDevices
from services.gateway.stores.logins import LoginStore
from services.gateway.stores.operations import OperationStore
from services.gateway.stores.read_models import (
    AuthenticatorView,
    Issued,
    PolicyView,
    UserView,
    Verified,
)
from shared.crypto import Sealed
from shared.events import LoginDecided, PolicyApplied, PolicyRules
from shared.identity import UserRef
from tests import gateway_fakes as fakes
from tests.conftest import Namespace

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADA = UserRef("acme", "ada")
SEALED = Sealed(key_id="k", nonce="bm9uY2Vub25jZTEy", ciphertext="Y2lwaGVy")


@pytest.fixture(params=["mongodb", "fake"])
async def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(mongodb_url: str, namespace: Namespace) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield client[f"{namespace.database_prefix}gateway"]
    await client.close()


def login(login_id: str, created_at: datetime = NOW, remembered: str | None = None) -> Login:
    return Login(
        login_id, "acme", "key", "ada", "ada@x.io", "editor", "pending", created_at,
        created_at + timedelta(minutes=5), remembered_credential=remembered,
    )  # fmt: skip


@pytest.fixture
def logins(kind: str, db: Any) -> Any:
    return LoginStore(db) if kind == "mongodb" else fakes.FakeLoginStore()


async def test_a_login_asks_for_a_code_once_and_a_late_decision_changes_nothing(
    logins: Any,
) -> None:
    await logins.create(login("l1"), {})
    pending = PendingEnrollment(SEALED, NOW + timedelta(minutes=10))
    assert await logins.ask_for_code("l1", Ask("c1", ("totp",), pending))
    assert not await logins.ask_for_code("l1", Ask("c1", ("totp",), None))
    await logins.needs_no_code("l1")
    found = await logins.get("l1")
    assert (found.status, found.mfa_required, found.credential_id) == (
        "enrollment_required",
        True,
        "c1",
    )


async def test_a_login_that_sets_up_an_authenticator_stays_open_longer_never_shorter(
    logins: Any,
) -> None:
    for login_id in ("one", "batched", "already-long"):
        await logins.create(login(login_id), {})
    pending = PendingEnrollment(SEALED, NOW + timedelta(minutes=10))
    longer = NOW + timedelta(minutes=15)
    await logins.ask_for_code("one", Ask("c1", ("totp",), pending, open_until=longer))
    await logins.ask_many(
        [
            ("batched", Ask("c2", ("totp",), pending, open_until=longer)),
            ("already-long", Ask("c3", ("totp",), pending, open_until=NOW)),
        ]
    )
    assert (await logins.get("one")).expires_at == longer
    assert (await logins.get("batched")).expires_at == longer
    assert (await logins.get("already-long")).expires_at == NOW + timedelta(minutes=5)


async def test_the_stored_login_is_what_the_domain_hands_over_in_memory(logins: Any) -> None:
    """The gateway hands an asked or authenticated login to the waiting request without
    reading it back (domain.login.asked, passed_by_code): the store must agree."""
    one, two = login("one"), login("two")
    for started in (one, two):
        await logins.create(started, {})
    pending = PendingEnrollment(SEALED, NOW + timedelta(minutes=10), '{"challenge": "x"}')
    enrolling = Ask(
        "c1", ("totp", "passkey"), pending, open_until=NOW + timedelta(minutes=15),
        first_use=True, digits=8, period=60,
    )  # fmt: skip
    daily = Ask(
        "c2", ("totp",), passkey_authentication='{"rp": "x"}',
        locked_until=NOW + timedelta(minutes=3),
    )  # fmt: skip
    assert await logins.ask_for_code("one", enrolling)
    assert await logins.ask_many([("two", daily)])
    asked_one, asked_two = await logins.get("one"), await logins.get("two")
    assert asked_one == asked(one, enrolling)
    assert asked_two == asked(two, daily)
    await logins.code_accepted("one", ADA, "s1")
    assert await logins.codes_accepted([("two", ADA, "s2")])
    assert await logins.get("one") == passed_by_code(asked_one, "s1")
    assert await logins.get("two") == passed_by_code(asked_two, "s2")


async def test_a_remembered_credential_passes_and_any_other_asks(logins: Any) -> None:
    await logins.create(login("l1", remembered="c1"), {})
    await logins.create(login("l2", remembered="c-old"), {})
    assert not await logins.ask_for_code("l1", Ask("c1", ("totp",), None))
    assert await logins.pass_remembered("l1", "c1")
    assert await logins.ask_for_code("l2", Ask("c1", ("totp",), None))
    assert not await logins.pass_remembered("l2", "c1")
    one, two = await logins.get("l1"), await logins.get("l2")
    assert (one.status, one.passed_by) == ("authenticated", "remembered_device")
    assert (two.status, two.passed_by) == ("code_required", None)


async def test_answers_are_kept_and_a_cut_off_login_never_authenticates(logins: Any) -> None:
    await logins.create(login("before"), {})
    await logins.ask_for_code("before", Ask("c1", ("totp",), None))
    until = NOW + timedelta(minutes=15)
    await logins.code_refused("before", "s1", CodeOutcome(False, "locked", 0, until))
    await logins.cut_off(ADA, NOW + timedelta(seconds=1))  # a reset: open logins end
    await logins.create(login("after", NOW + timedelta(seconds=2)), {})
    await logins.ask_for_code("after", Ask("c1", ("totp",), None))
    await logins.code_accepted("after", ADA, "s3", "recovery_code", SEALED)
    await logins.code_accepted("before", ADA, "s2", "recovery_code", SEALED)
    before, after = await logins.get("before"), await logins.get("after")
    assert (before.status, before.locked_until) == ("expired", until)
    assert before.outcomes["s2"].accepted
    assert (after.status, after.passed_by, after.recovery_codes, after.recovery_codes_for) == (
        "authenticated",
        "recovery_code",
        SEALED,
        "s3",  # the submission whose answer issued them
    )


async def test_a_batch_asks_and_authenticates_its_logins_but_never_a_cut_off_one(
    logins: Any,
) -> None:
    for login_id, at in (("b1", NOW), ("b2", NOW), ("old", NOW)):
        await logins.create(login(login_id, at), {})
    ask = Ask("c1", ("totp",), None)
    assert await logins.ask_many([("b1", ask), ("b2", ask), ("old", ask)])
    assert not await logins.ask_many([("b1", ask)])  # asked already: the caller looks again
    await logins.cut_off(UserRef("acme", "bob"), NOW + timedelta(seconds=1))  # another user
    assert await logins.codes_accepted([("b1", ADA, "s1"), ("b2", ADA, "s2")])
    await logins.cut_off(ADA, NOW + timedelta(seconds=1))  # a reset: "old" may not pass
    assert not await logins.codes_accepted([("old", ADA, "s3")])
    one, old = await logins.get("b1"), await logins.get("old")
    assert (one.status, one.passed_by, one.outcomes["s1"].accepted) == (
        "authenticated",
        "code",
        True,
    )
    assert old.status != "authenticated"


async def test_new_recovery_codes_are_kept_with_the_request_they_answer(logins: Any) -> None:
    await logins.create(login("l1"), {})
    await logins.recovery_codes_issued("l1", "r1", SEALED)
    await logins.recovery_codes_issued("l1", "r2", None)  # the credential was gone
    found = await logins.get("l1")
    assert (found.recovery_answer, found.recovery_codes) == ("r2", SEALED)
    assert found.recovery_codes_for == "r1"


async def test_a_confirmed_credential_turns_the_users_other_qr_logins_to_codes(
    logins: Any,
) -> None:
    pending = PendingEnrollment(SEALED, NOW + timedelta(minutes=10))
    for login_id, credential in (("same", "c1"), ("older-qr", "c0")):
        await logins.create(login(login_id), {})
        await logins.ask_for_code(login_id, Ask(credential, ("totp",), pending))
    await logins.enrollment_confirmed(ADA, "c1")
    same, older = await logins.get("same"), await logins.get("older-qr")
    assert (same.status, same.enrollment) == ("code_required", None)
    assert (older.status, older.enrollment) == ("enrollment_required", pending)


@pytest.fixture
def authenticators(kind: str, db: Any) -> Any:
    return AuthenticatorView(db) if kind == "mongodb" else fakes.FakeAuthenticatorView()


async def test_an_authenticator_is_offered_confirmed_locked_and_replaced(
    authenticators: Any,
) -> None:
    await authenticators.issued(ADA, "c1", NOW, None)
    await authenticators.lock_changed(ADA, NOW + timedelta(minutes=5))
    await authenticators.issued(ADA, "c1", NOW + timedelta(seconds=1), None)  # the same offer
    held = await authenticators.get(ADA)
    assert (held.created_at, held.locked_until) == (NOW, NOW + timedelta(minutes=5))
    await authenticators.code_verified(ADA, "c-other", NOW, confirms=True, step_offset=1)
    assert (await authenticators.get(ADA)).confirmed_at is None  # not this credential's code
    await authenticators.code_verified(ADA, "c1", NOW, confirms=True, step_offset=-1)
    await authenticators.recovery_codes_issued(ADA, "c1", 10)
    held = await authenticators.get(ADA)
    assert (held.confirmed_at, held.locked_until, held.step_offset) == (NOW, None, -1)
    assert held.recovery_codes_left == 10
    await authenticators.issued(ADA, "c2", NOW + timedelta(hours=1), None)  # after a reset
    assert (await authenticators.get(ADA)).credential_id == "c2"


async def test_an_import_answered_again_never_undoes_the_users_first_code(
    authenticators: Any,
) -> None:
    await authenticators.imported(ADA, "imp1", NOW, confirmed=False)
    assert (await authenticators.get(ADA)).confirmed_at is None  # awaiting first use
    await authenticators.code_verified(ADA, "imp1", NOW + timedelta(minutes=1), confirms=True)
    await authenticators.imported(ADA, "imp1", NOW, confirmed=False)  # delivered again
    held = await authenticators.get(ADA)
    assert (held.credential_id, held.confirmed_at) == ("imp1", NOW + timedelta(minutes=1))
    await authenticators.imported(ADA, "imp2", NOW + timedelta(hours=1))  # another secret
    assert (await authenticators.get(ADA)).credential_id == "imp2"


async def test_a_batch_of_answers_updates_the_view_as_one_at_a_time_would(
    authenticators: Any,
) -> None:
    await authenticators.issued_many(
        [Issued(ADA, "c1", NOW, None), Issued(ADA, "c1", NOW + timedelta(seconds=1), None)]
    )  # the same offer twice: kept as first issued
    assert (await authenticators.get(ADA)).created_at == NOW
    await authenticators.code_verified(ADA, "c1", NOW, confirms=True)
    await authenticators.lock_changed(ADA, NOW + timedelta(minutes=5))
    await authenticators.codes_verified([Verified(ADA, "c1", NOW, {"step_offset": 1})])
    held = await authenticators.get(ADA)
    assert (held.locked_until, held.step_offset, held.confirmed_at) == (None, 1, NOW)


@pytest.fixture
def users(kind: str, db: Any) -> Any:
    return UserView(db) if kind == "mongodb" else fakes.FakeUserView()


def decided(at: datetime, email: str) -> LoginDecided:
    return LoginDecided(
        occurred_at=at, correlation_id="l", organization_id="acme", login_id="l",
        user_id="ada", email=email, mfa_required=True, reason="user_type", policy_version=1,
    )  # fmt: skip


async def test_a_users_latest_decision_wins_whatever_the_order(users: Any) -> None:
    await users.decided(decided(NOW + timedelta(minutes=1), "new@x.io"))
    await users.decided(decided(NOW, "old@x.io"))  # late
    assert await users.email_of(ADA) == "new@x.io"
    assert await users.email_of(UserRef("acme", "nobody")) is None


@pytest.fixture
def policies(kind: str, db: Any) -> Any:
    return PolicyView(db) if kind == "mongodb" else fakes.FakePolicyView()


def applied(version: int) -> PolicyApplied:
    return PolicyApplied(
        occurred_at=NOW, correlation_id="op", organization_id="acme",
        policy=PolicyRules(user_types=(f"t{version}",)), version=version, updated_at=NOW,
        requested_by="admin",
    )  # fmt: skip


async def test_a_late_older_policy_version_never_wins(policies: Any) -> None:
    assert (await policies.current("acme")).version == 0
    await policies.apply(applied(2))
    await policies.apply(applied(1))
    current = await policies.current("acme")
    assert (current.version, current.rules.user_types) == (2, ("t2",))


@pytest.fixture
def operations(kind: str, db: Any) -> Any:
    return OperationStore(db) if kind == "mongodb" else fakes.FakeOperationStore()


async def test_an_operation_knows_who_applied_it(operations: Any) -> None:
    await operations.applied("op", "enrollment", NOW)
    await operations.applied("op", "verification", NOW)
    assert await operations.applied_by("op") == {"enrollment", "verification"}
    assert await operations.applied_by("other") == set()


@pytest.fixture
def audit(kind: str, db: Any) -> Any:
    return AuditLog(db) if kind == "mongodb" else fakes.FakeAuditLog()


async def test_a_redelivered_event_is_one_audit_row_latest_first(audit: Any) -> None:
    row = AuditEvent("acme", NOW, "code_verified", "ada", "ok", source="e1")
    await audit.record(row)
    await audit.record(row)
    await audit.record(
        AuditEvent("acme", NOW + timedelta(1), "code_rejected", "ada", "no", source="e2")
    )
    assert [e.kind for e in await audit.latest("acme")] == ["code_rejected", "code_verified"]


async def test_a_batch_redelivered_adds_no_audit_row_twice(audit: Any) -> None:
    rows = [AuditEvent("acme", NOW, "code_verified", "ada", "ok", source=f"b{n}") for n in range(3)]
    await audit.record_many(rows[:2])
    await audit.record_many(rows)  # two of three seen before
    assert len(await audit.latest("acme")) == 3


@pytest.fixture
def devices(kind: str, db: Any) -> Any:
    return RememberedDevices(db) if kind == "mongodb" else fakes.FakeDevices()


async def test_an_organization_that_stops_remembering_forgets_all_its_devices(
    devices: Any,
) -> None:
    for user in (ADA, ADA, UserRef("globex", "grace")):
        await devices.remember(user, "c1", NOW, 30)
    assert await devices.forget_organization("acme") == 2
    assert await devices.forget_organization("acme") == 0
    assert await devices.forget_organization("globex") == 1
