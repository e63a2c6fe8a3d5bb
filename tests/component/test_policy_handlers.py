from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.redis import TestRedisBroker

from services.policy.app import create_app
from services.policy.settings import PolicySettings
from shared import streams
from shared.clock import FixedClock
from shared.events import LoginAttempted, LoginDecided, PolicyApplied, PolicyRules, PolicyUpdated
from tests.component.conftest import Recorder
from tests.conftest import Namespace


@pytest.fixture
async def policy(
    service_env: dict[str, Any], namespace: Namespace, clock: FixedClock
) -> AsyncIterator[tuple[Any, Recorder]]:
    app = create_app(PolicySettings(**service_env), clock)
    recorder = Recorder(app.broker, namespace)
    recorder.watch(streams.LOGIN_DECIDED, LoginDecided)
    recorder.watch(streams.POLICY_APPLIED, PolicyApplied)
    async with TestRedisBroker(app.broker) as broker:
        yield broker, recorder


async def update_policy(broker: Any, namespace: Namespace, clock: FixedClock, **rules: Any) -> None:
    await broker.publish(
        PolicyUpdated(
            occurred_at=clock.now(),
            correlation_id="op",
            organization_id="acme",
            policy=PolicyRules(**rules),
            requested_by="admin",
        ),
        stream=namespace.stream(streams.POLICY_UPDATED),
    )


async def attempt(
    broker: Any, namespace: Namespace, clock: FixedClock, user_id: str, email: str, user_type: str
) -> None:
    await broker.publish(
        LoginAttempted(
            occurred_at=clock.now(),
            correlation_id=user_id,
            organization_id="acme",
            login_id=f"login-{user_id}",
            user_id=user_id,
            email=email,
            user_type=user_type,
        ),
        stream=namespace.stream(streams.LOGIN_ATTEMPTED),
    )


async def test_without_a_policy_nobody_needs_mfa(
    policy: Any, namespace: Namespace, clock: FixedClock
) -> None:
    broker, recorder = policy
    await attempt(broker, namespace, clock, "u1", "a@b.c", "editor")
    [decided] = recorder.of(streams.LOGIN_DECIDED)
    assert (decided.mfa_required, decided.reason, decided.policy_version) == (
        False,
        "not_applicable",
        0,
    )
    assert decided.login_id == "login-u1"


async def test_decides_by_user_type_listed_user_and_all_users(
    policy: Any, namespace: Namespace, clock: FixedClock
) -> None:
    broker, recorder = policy
    await update_policy(broker, namespace, clock, user_types=["editor"], users=["VIP@b.c"])
    await attempt(broker, namespace, clock, "u1", "a@b.c", "editor")
    await attempt(broker, namespace, clock, "u2", "vip@b.c", "viewer")
    await attempt(broker, namespace, clock, "u3", "c@b.c", "viewer")
    await update_policy(broker, namespace, clock, all_users=True)
    await attempt(broker, namespace, clock, "u3", "c@b.c", "viewer")
    reasons = [
        (d.user_id, d.mfa_required, d.reason, d.policy_version)
        for d in recorder.of(streams.LOGIN_DECIDED)
    ]
    assert reasons == [
        ("u1", True, "user_type", 1),
        ("u2", True, "user", 1),
        ("u3", False, "not_applicable", 1),
        ("u3", True, "all_users", 2),
    ]


async def test_each_update_is_confirmed_with_a_new_version(
    policy: Any, namespace: Namespace, clock: FixedClock
) -> None:
    broker, recorder = policy
    await update_policy(broker, namespace, clock, user_types=["editor"])
    await update_policy(broker, namespace, clock, users=["u9"])
    applied = recorder.of(streams.POLICY_APPLIED)
    assert [a.version for a in applied] == [1, 2]
    assert applied[1].policy == PolicyRules(users=("u9",))
    assert applied[1].correlation_id == "op"


def update(clock: FixedClock, expected_version: int | None = None, **rules: Any) -> PolicyUpdated:
    return PolicyUpdated(
        occurred_at=clock.now(),
        correlation_id="op",
        organization_id="acme",
        policy=PolicyRules(**rules),
        requested_by="admin",
        expected_version=expected_version,
    )


async def send(broker: Any, namespace: Namespace, event: PolicyUpdated) -> None:
    await broker.publish(event, stream=namespace.stream(streams.POLICY_UPDATED))


async def test_an_update_delivered_twice_makes_one_version(
    policy: Any, namespace: Namespace, clock: FixedClock
) -> None:
    broker, recorder = policy
    once = update(clock, user_types=["editor"])
    await send(broker, namespace, once)
    await send(broker, namespace, once)
    applied = recorder.of(streams.POLICY_APPLIED)
    assert [(a.version, a.conflict) for a in applied] == [(1, False), (1, False)]
    assert applied[1].policy == PolicyRules(user_types=("editor",))


async def test_an_older_update_delivered_late_does_not_overwrite_a_newer_one(
    policy: Any, namespace: Namespace, clock: FixedClock
) -> None:
    broker, recorder = policy
    older, newer = update(clock, user_types=["editor"]), update(clock, all_users=True)
    for event in (older, newer, older):
        await send(broker, namespace, event)
    await attempt(broker, namespace, clock, "u1", "a@b.c", "viewer")
    [decided] = recorder.of(streams.LOGIN_DECIDED)
    assert (decided.reason, decided.policy_version) == ("all_users", 2)


async def test_an_update_first_delivered_after_a_later_request_is_refused_not_applied(
    policy: Any, namespace: Namespace, clock: FixedClock
) -> None:
    broker, recorder = policy
    lost = update(clock, user_types=["editor"])  # its entry lost; the gateway sends it again
    clock.advance(seconds=5)
    await send(broker, namespace, update(clock, all_users=True))
    await send(broker, namespace, lost)
    applied = recorder.of(streams.POLICY_APPLIED)
    assert [(a.version, a.conflict) for a in applied] == [(1, False), (1, True)]
    assert applied[1].policy == PolicyRules(all_users=True)


async def test_an_update_over_a_version_that_is_gone_is_refused_and_changes_nothing(
    policy: Any, namespace: Namespace, clock: FixedClock
) -> None:
    broker, recorder = policy
    await send(broker, namespace, update(clock, expected_version=0, user_types=["editor"]))
    await send(broker, namespace, update(clock, expected_version=1, user_types=["admin"]))
    await send(broker, namespace, update(clock, expected_version=1, all_users=True))  # stale
    applied = recorder.of(streams.POLICY_APPLIED)
    assert [(a.version, a.conflict) for a in applied] == [(1, False), (2, False), (2, True)]
    assert applied[2].policy == PolicyRules(user_types=("admin",))  # what is there now
