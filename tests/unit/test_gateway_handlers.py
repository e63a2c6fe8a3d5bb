"""The gateway's event handlers on in-memory stores (tests/gateway_fakes.py, checked
against the real ones by tests/integration/test_gateway_store_contract.py): what each
event changes, who is woken, what is audited and which notice goes out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway.domain.login import Ask, CodePassed, Login, asked, passed_by_code
from services.gateway.events.batches import GatewayBatches
from services.gateway.events.change_feed import ChangeFeed
from services.gateway.events.handlers import GatewayHandlers
from services.gateway.events.notices import Notices
from shared.clock import FixedClock
from shared.crypto import Sealed
from shared.events import (
    CodeRejected,
    CodeVerified,
    EnrollmentIssued,
    LoginDecided,
    PolicyApplied,
    PolicyRules,
)
from shared.identity import UserRef
from tests import gateway_fakes as fakes

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SEALED = Sealed(key_id="k", nonce="bm9uY2Vub25jZTEy", ciphertext="Y2lwaGVy")


@dataclass
class Sent:
    events: list[Any] = field(default_factory=list)

    async def publish(self, message: Any, *, correlation_id: str | None = None) -> None:
        self.events.append(message)


@dataclass
class World:
    handlers: GatewayHandlers
    logins: fakes.FakeLoginStore
    audit: fakes.FakeAuditLog
    authenticators: fakes.FakeAuthenticatorView
    notices: Sent
    announced: list[str]


@pytest.fixture
def world() -> World:
    logins, audit = fakes.FakeLoginStore(), fakes.FakeAuditLog()
    authenticators, notices, announced = fakes.FakeAuthenticatorView(), Sent(), []
    clock = FixedClock(NOW)

    async def announce(key: str) -> None:
        announced.append(key)

    handlers = GatewayHandlers(
        logins=logins,
        operations=fakes.FakeOperationStore(),
        policy=fakes.FakePolicyView(),
        authenticators=authenticators,
        users=fakes.FakeUserView(),
        devices=fakes.FakeDevices(),
        notices=Notices(notices, clock),
        feed=ChangeFeed(),
        audit=audit,
        clock=clock,
        announce=announce,
    )
    return World(handlers, logins, audit, authenticators, notices, announced)


def envelope(login_id: str = "l1") -> dict[str, Any]:
    return {
        "occurred_at": NOW,
        "correlation_id": login_id,
        "organization_id": "acme",
        "login_id": login_id,
        "user_id": "ada",
    }


async def started(world: World, remembered: str | None = None) -> None:
    login = Login(
        "l1", "acme", "key", "ada", "ada@x.io", "editor", "pending", NOW,
        NOW + timedelta(minutes=5), remembered_credential=remembered,
    )  # fmt: skip
    await world.logins.create(login, {"attempt": {}})
    await world.handlers.on_login_decided(
        LoginDecided(
            **envelope(),
            email="ada@x.io",
            mfa_required=True,
            reason="user_type",
            policy_version=1,
            user_type="editor",
        )
    )


def enrolled(credential: str = "c1") -> EnrollmentIssued:
    return EnrollmentIssued(
        **envelope(), credential_id=credential, state="enrolled", credential_created_at=NOW,
        confirmed_at=NOW,
    )  # fmt: skip


async def test_a_decision_that_asks_for_a_code_wakes_nobody_until_enrollment_answers(
    world: World,
) -> None:
    await started(world)
    assert world.announced == []
    await world.handlers.on_enrollment_issued(enrolled())
    assert (await world.logins.get("l1")).status == "code_required"  # type: ignore[union-attr]
    assert world.announced == ["l1"]


async def test_a_login_asked_here_is_handed_to_its_waiting_request_as_written(
    world: World,
) -> None:
    await started(world)
    pending = await world.logins.get("l1")
    with world.handlers.feed.watch("l1") as watch:
        await world.handlers.on_enrollment_issued(enrolled())
    assert isinstance(watch.handed, Ask)  # no read back: the request applies what was asked
    assert asked(pending, watch.handed) == await world.logins.get("l1")  # type: ignore[arg-type]


async def test_a_remembered_device_hands_nothing_over_the_request_reads_it(world: World) -> None:
    await started(world, remembered="c1")
    with world.handlers.feed.watch("l1") as watch:
        await world.handlers.on_enrollment_issued(enrolled("c1"))
    assert watch.handed is None  # the ask did not match: the request reads what happened


def daily_code(submission_id: str = "s1") -> CodeVerified:
    return CodeVerified(
        **envelope(), submission_id=submission_id, credential_id="c1", purpose="login"
    )


async def test_a_daily_code_authenticated_here_is_handed_over_and_a_cut_off_one_is_not(
    world: World,
) -> None:
    batches = GatewayBatches(world.handlers)
    await started(world)
    await world.handlers.on_enrollment_issued(enrolled())
    asked_login = await world.logins.get("l1")
    with world.handlers.feed.watch("l1") as watch:
        await batches.on_codes_verified([daily_code("s1")])
    assert watch.handed == CodePassed("s1")
    assert passed_by_code(asked_login, "s1") == await world.logins.get("l1")  # type: ignore[arg-type]

    await world.logins.create(replace(asked_login, login_id="l2", status="code_required"), {})
    await world.logins.cut_off(UserRef("acme", "ada"), NOW + timedelta(seconds=1))  # a reset
    with world.handlers.feed.watch("l2") as watch:
        await batches.on_codes_verified([daily_code("s2").model_copy(update={"login_id": "l2"})])
    assert watch.handed is None  # not authenticated: the request reads the answer kept
    assert (await world.logins.get("l2")).status == "expired"  # type: ignore[union-attr]


async def test_a_remembered_device_passes_without_a_code_and_is_audited(world: World) -> None:
    await started(world, remembered="c1")
    await world.handlers.on_enrollment_issued(enrolled("c1"))
    passed = await world.logins.get("l1")
    assert (passed.status, passed.passed_by) == ("authenticated", "remembered_device")  # type: ignore[union-attr]
    assert [e.kind for e in await world.audit.latest("acme")] == ["remembered_device_used"]


async def test_confirming_an_authenticator_keeps_the_codes_and_notifies_once(
    world: World,
) -> None:
    await started(world)
    await world.handlers.on_enrollment_issued(enrolled())
    verified = CodeVerified(
        **envelope(), submission_id="s1", credential_id="c1", purpose="enrollment",
        step_offset=1, recovery_codes=SEALED, recovery_codes_left=10,
    )  # fmt: skip
    for _ in range(2):  # a redelivery
        await world.handlers.on_code_verified(verified)
    login = await world.logins.get("l1")
    assert (login.status, login.recovery_codes) == ("authenticated", SEALED)  # type: ignore[union-attr]
    held = await world.authenticators.get(verified.user)
    assert (held.recovery_codes_left, held.step_offset) == (10, 1)  # type: ignore[union-attr]
    kinds = [(n.kind, n.email, n.event_id) for n in world.notices.events]
    assert [k[:2] for k in kinds] == [("authenticator_confirmed", "ada@x.io")] * 2
    assert kinds[0][2] == kinds[1][2]  # one notice, delivered twice: one mail


async def test_a_recovery_code_is_audited_and_noticed_with_the_codes_left(world: World) -> None:
    await started(world)
    await world.handlers.on_enrollment_issued(enrolled())
    await world.handlers.on_code_verified(
        CodeVerified(
            **envelope(),
            submission_id="s1",
            credential_id="c1",
            purpose="login",
            kind="recovery_code",
            recovery_codes_left=7,
        )
    )
    [row] = await world.audit.latest("acme")
    assert (row.kind, row.detail) == ("recovery_code_used", "recovery code used, 7 left")
    [notice] = world.notices.events
    assert (notice.kind, notice.recovery_codes_left) == ("recovery_code_used", 7)


async def test_only_the_rejection_that_locks_sends_a_notice(world: World) -> None:
    await started(world)
    await world.handlers.on_enrollment_issued(enrolled())
    until = NOW + timedelta(minutes=15)
    for n, locked_now in enumerate((False, True, False)):
        await world.handlers.on_code_rejected(
            CodeRejected(
                **envelope(),
                submission_id=f"s{n}",
                credential_id="c1",
                reason="locked" if n else "invalid",
                attempts_left=0,
                locked_until=until if n else None,
                locked_now=locked_now,
            )
        )
    assert [n.kind for n in world.notices.events] == ["locked"]
    assert (await world.logins.get("l1")).locked_until == until  # type: ignore[union-attr]


async def test_a_refused_policy_update_is_neither_shown_nor_audited(world: World) -> None:
    conflict = PolicyApplied(
        occurred_at=NOW, correlation_id="op", organization_id="acme",
        policy=PolicyRules(all_users=True), version=3, updated_at=NOW, requested_by="admin",
        conflict=True,
    )  # fmt: skip
    await world.handlers.on_policy_applied(conflict)
    assert (await world.handlers.policy.current("acme")).version == 0
    assert await world.audit.latest("acme") == []
    assert await world.handlers.operations.applied_by("op") == {"policy"}
