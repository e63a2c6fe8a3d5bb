"""Events Redis forgot (restarted without persistence) while their consumer was down:
the gateway sends them again, so no login and no admin change is lost."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deploy.localstack import free_port
from services.gateway.events.outbox import FIRST_RESEND
from tests.real_stack import ADMIN, CLIENT, Stack, launch, new_user

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def forgetful(mongodb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose own Redis keeps nothing across a restart."""
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing there: the stack starts one
    workdir = tmp_path_factory.mktemp("forgetful")
    stack = launch(redis_url, mongodb_url, workdir, MFA_ADMIN_TIMEOUT_SECONDS="2")
    try:
        yield stack
    finally:
        stack.close()


def sent_while_down_then_forgotten(stack: Stack, service: str, send: Callable[[], Any]) -> Any:
    """``send`` with ``service`` down; Redis then restarts empty and the service returns.
    Whatever ``send`` published is gone from Redis: only the gateway still has it."""
    stack.processes.children.pop(service).kill()
    answer = send()
    stack.processes.restart("redis")
    stack.processes.start_service(service)
    stack.processes.wait_ready(30)
    stack.advance(FIRST_RESEND.total_seconds())  # the answer is now late
    return answer


def eventually(condition: Callable[[], bool], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.2)


def test_a_login_attempt_redis_forgot_is_decided_and_its_code_accepted(forgetful: Stack) -> None:
    stack = forgetful
    stack.set_policy(user_types=["editor"])
    user = new_user()
    secret = stack.enroll(user)
    stack.next_step()

    created = sent_while_down_then_forgotten(
        stack,
        "policy",
        lambda: stack.http.post(
            "/v1/logins",
            headers=CLIENT,
            json={"user_id": user, "email": f"{user}@example.com", "user_type": "editor"},
        ),
    )
    assert created.status_code == 201, created.text
    login_id = created.json()["login_id"]
    assert stack.wait(login_id, 20)["status"] == "code_required"

    late = sent_while_down_then_forgotten(
        stack, "verification", lambda: stack.submit(login_id, stack.code(secret))
    )
    assert late.status_code == 504  # the code's answer was late: the client is told so
    eventually(lambda: stack.wait(login_id, 0)["status"] == "authenticated")


def test_a_policy_change_redis_forgot_is_applied_all_the_same(forgetful: Stack) -> None:
    stack = forgetful
    marker = new_user()
    sent = sent_while_down_then_forgotten(
        stack,
        "policy",
        lambda: stack.http.put(
            "/v1/admin/policy", headers=ADMIN, json={"user_types": ["editor"], "users": [marker]}
        ),
    )
    assert sent.status_code == 504, sent.text  # accepted, not yet confirmed: will apply
    assert sent.json()["error"]["waiting_for"] == ["policy"]

    eventually(lambda: marker in stack.http.get("/v1/admin/policy", headers=ADMIN).json()["users"])
    login = stack.start_login(marker, f"{marker}@example.com", "viewer")
    assert login["status"] == "enrollment_required"  # the listed user needs MFA now
