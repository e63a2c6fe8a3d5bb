"""What a stack keeps across restarts: of all of it, of its Redis, of its database.

These stacks own their Redis (append-only, on the data directory) and, unless
MONGODB_URL points elsewhere, their FerretDB, as `make run` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.localstack import SERVICES, free_port, redis_answers
from tests.real_stack import CLIENT, Stack, launch, new_user

pytestmark = pytest.mark.e2e


def own_stack(
    workdir: Path, data_dir: Path, redis_url: str, mongodb_url: str | None, run: str = ""
) -> Stack:
    """A stack on ``data_dir``; stacks given the same ``run`` share streams and databases."""
    run = run or uuid.uuid4().hex[:8]
    namespace = {"MFA_STREAM_PREFIX": f"kept{run}:", "MFA_DATABASE_PREFIX": f"kept{run}_"}
    return launch(redis_url, mongodb_url, workdir, data_dir=data_dir, **namespace)


def service_pids(stack: Stack) -> dict[str, int]:
    return {name: stack.processes.children[name].pid for name in SERVICES}


def enrolled_editor(stack: Stack) -> tuple[str, str]:
    user = new_user()
    stack.set_policy(user_types=["editor"])
    return user, stack.enroll(user)


def assert_serves_through(stack: Stack, disruption: Callable[[], object]) -> None:
    """An enrolled user signs in after ``disruption``, and no service was restarted."""
    user, secret = enrolled_editor(stack)
    services = service_pids(stack)
    disruption()
    stack.processes.wait_ready(30)
    assert_signs_in_with_a_code(stack, user, secret)
    assert service_pids(stack) == services
    assert all(stack.processes.children[name].running for name in SERVICES)


def assert_signs_in_with_a_code(stack: Stack, user: str, secret: str) -> None:
    """The enrolled user's next login asks for the code only, and the app's code works."""
    stack.next_step()  # a code the enrollment has not already used
    login = stack.start_login(user, f"{user}@example.com", "editor")
    assert (login["status"], login["enrollment"]) == ("code_required", None)
    response = stack.submit(login["login_id"], stack.code(secret))
    assert response.status_code == 200, response.text


def test_everything_a_user_has_survives_a_full_stop_and_start(
    tmp_path: Path, external_mongodb_url: str | None
) -> None:
    data, redis_url = tmp_path / "data", f"redis://127.0.0.1:{free_port()}/0"
    run = uuid.uuid4().hex[:8]
    enrolled, locked, halfway = new_user(), new_user(), new_user()
    before = own_stack(tmp_path / "before", data, redis_url, external_mongodb_url, run)
    try:
        assert "redis" in before.processes.children  # this stack's own, append-only
        before.set_policy(user_types=["editor"], users=[f"{halfway}@example.com"])
        secret = before.enroll(enrolled)
        locked_secret = before.enroll(locked)
        before.next_step()
        attempt = before.start_login(locked, f"{locked}@example.com", "editor")
        for _ in range(2):
            before.submit(attempt["login_id"], before.wrong_code(locked_secret))
        offer = before.start_login(halfway, f"{halfway}@example.com", "viewer")["enrollment"]
    finally:
        before.close()
    assert not redis_answers(redis_url), "every process, Redis included, was stopped"

    after = own_stack(tmp_path / "after", data, redis_url, external_mongodb_url, run)
    try:
        assert_signs_in_with_a_code(after, enrolled, secret)

        again = after.start_login(locked, f"{locked}@example.com", "editor")
        refused = after.submit(again["login_id"], after.wrong_code(locked_secret))
        assert refused.json()["error"]["attempts_left"] == 2  # two were used before the stop

        resumed = after.start_login(halfway, f"{halfway}@example.com", "viewer")
        assert resumed["status"] == "enrollment_required"  # the policy that was set, kept
        assert resumed["enrollment"]["secret"] == offer["secret"]  # the same QR, not a new one
    finally:
        after.close()


def test_the_stack_keeps_serving_when_its_redis_is_restarted(
    tmp_path: Path, mongodb_url: str
) -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing there: the stack starts one
    stack = own_stack(tmp_path, tmp_path / "data", redis_url, mongodb_url)
    try:

        def shutdown_and_revive() -> None:
            stack.processes.children["redis"].stop()  # as `redis-cli shutdown` would
            assert stack.processes.revive_infrastructure() == ["redis"]  # as make run does

        assert_serves_through(stack, shutdown_and_revive)  # groups and policy were kept
    finally:
        stack.close()


def test_an_outage_of_its_database_answers_503_and_the_stack_recovers_from_it(
    tmp_path: Path, redis_url: str, external_mongodb_url: str | None
) -> None:
    if external_mongodb_url is not None:
        pytest.skip("the database is MONGODB_URL's, not this stack's to stop")
    stack = own_stack(tmp_path, tmp_path / "data", redis_url, None)
    try:
        user, secret = enrolled_editor(stack)
        services = service_pids(stack)

        stack.processes.children["mongodb"].stop()
        down = stack.http.post(
            "/v1/logins",
            headers=CLIENT,
            json={"user_id": user, "email": f"{user}@example.com", "user_type": "editor"},
        )
        assert (down.status_code, down.json()["error"]["code"]) == (503, "unavailable")
        assert down.headers["retry-after"] == "1"

        assert stack.processes.revive_infrastructure() == ["mongodb"]
        stack.processes.wait_ready(30)
        assert_signs_in_with_a_code(stack, user, secret)
        assert service_pids(stack) == services
    finally:
        stack.close()


def test_a_redis_that_forgot_everything_is_survived_without_restarting_a_service(
    tmp_path: Path, mongodb_url: str
) -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # the stack starts one: no persistence
    stack = launch(redis_url, mongodb_url, tmp_path, MFA_RECLAIM_IDLE_MS="2000")
    try:  # streams and consumer groups are gone; the data lives in MongoDB
        assert_serves_through(stack, lambda: stack.processes.restart("redis"))
    finally:
        stack.close()
