"""The gateway's outbox on the real database: what a login or an admin change awaits is
kept in the same write, let go with the answer, and sent again by one replica only."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.gateway.domain.login import Ask, CodeOutcome, Login
from services.gateway.events.outbox import FIRST_RESEND, awaiting
from services.gateway.events.redelivery import Channel, Redelivery
from services.gateway.stores.logins import LoginStore
from services.gateway.stores.operations import OperationStore
from shared import streams
from shared.clock import FixedClock
from shared.events import AuthenticatorReset, Event, LoginAttempted, RecoveryCodesRequested
from shared.identity import UserRef
from tests.conftest import Namespace
from tests.events import login_attempted

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LATE = NOW + FIRST_RESEND + timedelta(seconds=1)


@pytest.fixture
async def db(mongodb_url: str, namespace: Namespace) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield client[f"{namespace.database_prefix}gateway"]
    await client.close()


async def started(logins: LoginStore, login_id: str) -> LoginAttempted:
    event = login_attempted(login_id, NOW)
    login = Login(
        login_id, "acme", "key", "u1", "u1@example.com", "editor", "pending", NOW,
        NOW + timedelta(minutes=5),
    )  # fmt: skip
    await logins.create(login, awaiting(streams.LOGIN_ATTEMPTED, event, NOW, "attempt"))
    return event


async def test_a_login_awaits_its_attempt_until_policy_and_enrollment_answer(db: Any) -> None:
    logins = LoginStore(db)
    event = await started(logins, "l1")
    [kept] = await logins.outbox.unanswered("l1", NOW)
    assert (kept.key, kept.stream, kept.event) == (
        "attempt",
        streams.LOGIN_ATTEMPTED,
        event.model_dump_json(),
    )
    assert await logins.outbox.holders(NOW) == ["l1"]
    await logins.ask_for_code("l1", Ask("c1", ("totp",), None))  # policy said MFA, enrollment how
    assert await logins.outbox.unanswered("l1", NOW) == []
    assert await logins.outbox.holders(NOW) == []


async def test_a_submission_is_awaited_until_its_answer_and_an_ended_login_awaits_nothing(
    db: Any,
) -> None:
    logins = LoginStore(db)
    event = await started(logins, "l1")
    await logins.ask_for_code("l1", Ask("c1", ("totp",), None))
    waits = awaiting(streams.CODE_SUBMITTED, event, NOW, "s1")
    assert await logins.count_submission("l1", 10, waits, "k1")
    assert [e.key for e in await logins.outbox.unanswered("l1", NOW)] == ["s1"]
    await logins.code_refused("l1", "s1", CodeOutcome(False, "invalid", 4))
    assert await logins.outbox.unanswered("l1", NOW) == []

    assert await logins.count_submission(
        "l1", 10, awaiting(streams.CODE_SUBMITTED, event, NOW, "s2"), "k1"
    )
    assert await logins.outbox.holders(NOW + timedelta(minutes=6)) == []  # expired by then
    await logins.expire("l1")
    assert await logins.outbox.unanswered("l1", NOW) == []


async def test_a_reset_is_awaited_from_each_owner_until_it_confirms(db: Any) -> None:
    operations = OperationStore(db)
    reset = AuthenticatorReset(
        occurred_at=NOW, correlation_id="op1", organization_id="acme", user_id="u1",
        requested_by="admin",
    )  # fmt: skip
    owners = awaiting(streams.AUTHENTICATOR_RESET, reset, NOW, "enrollment", "verification")
    await operations.start("op1", "reset", NOW, owners, user_id="u1")
    await operations.applied("op1", "enrollment", NOW)
    assert [e.key for e in await operations.outbox.unanswered("op1", NOW)] == ["verification"]
    await operations.applied("op1", "verification", NOW)
    assert await operations.outbox.holders(NOW) == []


async def test_of_two_replicas_only_one_sends_a_late_event_again(db: Any) -> None:
    logins = LoginStore(db)
    event = await started(logins, "l1")
    sent: list[Event] = []

    async def send(resent: Event) -> None:
        sent.append(resent)

    replicas = [
        Redelivery(
            {"logins": logins.outbox},
            {streams.LOGIN_ATTEMPTED: Channel(LoginAttempted, send)},
            FixedClock(LATE),
            scan_every=60,
        )
        for _ in range(2)
    ]
    for replica in replicas:
        await replica.scan(LATE)
    counts = await asyncio.gather(*(r.resend_due(LATE) for r in replicas))
    assert sorted(counts) == [0, 1]
    assert sent == [event]  # the same event, the same id: consumers know it
    [kept] = await logins.outbox.unanswered("l1", LATE)
    assert (kept.resends, kept.due_at) == (1, LATE + 2 * FIRST_RESEND)
    assert await replicas[0].resend_due(LATE + timedelta(seconds=5)) == 0  # not due again yet


async def test_a_watch_ends_without_a_read_once_each_send_here_is_answered_here(db: Any) -> None:
    logins = LoginStore(db)
    event = await started(logins, "l1")  # its attempt stays unanswered in the store
    sent: list[Event] = []

    async def send(out: Event) -> None:
        sent.append(out)

    redelivery = Redelivery(
        {"logins": logins.outbox},
        {streams.LOGIN_ATTEMPTED: Channel(LoginAttempted, send)},
        FixedClock(LATE),
        scan_every=60,
    )
    send_attempt = redelivery.sending("logins", streams.LOGIN_ATTEMPTED)
    await send_attempt(event)
    await send_attempt(event)  # two sends in flight, say a double submit
    redelivery.answered("logins", "l1")
    assert await redelivery.resend_due(LATE) == 1  # one still unanswered: looked, and sent
    await send_attempt(event)
    redelivery.answered("logins", "l1")
    redelivery.answered("logins", "l1")
    # Every send answered here: no look at the document, which (in this test) still
    # holds the attempt and would otherwise be sent again.
    assert await redelivery.resend_due(LATE + timedelta(minutes=5)) == 0
    assert len(sent) == 4  # three sends, one resend


async def test_an_authenticated_login_awaits_its_new_recovery_codes_until_they_come(
    db: Any,
) -> None:
    logins = LoginStore(db)
    await started(logins, "l1")
    await logins.ask_for_code("l1", Ask("c1", ("totp",), None))
    await logins.code_accepted("l1", UserRef("acme", "u1"), "s1")
    request = RecoveryCodesRequested(
        occurred_at=NOW, correlation_id="l1", organization_id="acme", user_id="u1",
        login_id="l1", credential_id="c1",
    )  # fmt: skip
    waits = awaiting(streams.RECOVERY_CODES_REQUESTED, request, NOW, "recovery")
    await logins.recovery_codes_requested("l1", waits, str(request.event_id), "k1")
    assert await logins.outbox.holders(NOW) == ["l1"]  # sent again should Redis lose it
    await logins.recovery_codes_issued("l1", str(request.event_id), None)
    assert await logins.outbox.holders(NOW) == []
    assert (await logins.get("l1")).recovery_answer == str(request.event_id)  # type: ignore[union-attr]
