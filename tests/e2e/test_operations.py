"""What operators rely on: replicas share work, outages lose nothing, bad config is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import redis

from deploy.localstack import ROOT
from shared import streams
from tests.real_stack import Stack, new_user

pytestmark = [pytest.mark.e2e, pytest.mark.own_stack]  # moves the clock or stops a service


def checked_by(stack: Stack, name: str) -> int:
    log = stack.processes.children[name].log_path
    assert log is not None
    return log.read_text().count('"event": "code_checked"')


def wait_until(condition: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_a_second_verification_replica_shares_the_work_with_no_other_change(
    stack: Stack,
) -> None:
    stack.processes.start_service("verification", replica=1)
    try:
        replica_log = stack.processes.children["verification-1"].log_path
        assert replica_log is not None
        wait_until(lambda: "service_started" in replica_log.read_text())
        before = checked_by(stack, "verification")
        for _ in range(8):
            user = new_user()
            login = stack.start_login(user, f"{user}@example.com", "editor")
            response = stack.submit(login["login_id"], stack.code(login["enrollment"]["secret"]))
            assert response.status_code == 200, response.text
        assert checked_by(stack, "verification") > before
        assert checked_by(stack, "verification-1") > 0
    finally:
        stack.processes.children.pop("verification-1").stop()


def test_a_code_sent_while_verification_is_down_is_answered_when_it_returns(
    stack: Stack,
) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "editor")
    secret = login["enrollment"]["secret"]
    stack.processes.children.pop("verification").kill()  # a crash, not a clean stop
    wait_until(lambda: stack.http.get("/readyz").json()["downstream"]["verification"] == 0)
    assert stack.http.get("/readyz").status_code == 200  # the gateway itself still serves
    viewer = new_user()
    assert stack.start_login(viewer, f"{viewer}@example.com", "viewer")["status"] == (
        "authenticated"
    )

    timed_out = stack.submit(login["login_id"], stack.code(secret))
    assert timed_out.status_code == 504
    assert timed_out.json()["error"]["code"] == "verification_timeout"
    assert timed_out.json()["status"] == "enrollment_required"

    stack.processes.start_service("verification")
    stack.processes.wait_ready()
    # The entry waited in the stream; the restarted replica (or, had it died holding
    # the entry, the reclaimer) answers it.
    wait_until(lambda: stack.wait(login["login_id"], 0)["status"] == "authenticated")


def test_a_garbage_event_is_dead_lettered_and_the_service_keeps_serving(stack: Stack) -> None:
    client = redis.Redis.from_url(stack.processes.env["MFA_REDIS_URL"])
    prefix = stack.processes.env["MFA_STREAM_PREFIX"]
    client.xadd(prefix + streams.LOGIN_ATTEMPTED, {"__data__": b"\x00not an event"})
    client.xadd(prefix + streams.CODE_SUBMITTED, {"__data__": b'{"login_id": []}'})
    wait_until(lambda: client.xlen(prefix + streams.DEAD_LETTER) >= 2)
    assert all(c.process.poll() is None for c in stack.processes.children.values())
    user = new_user()
    assert stack.start_login(user, f"{user}@example.com", "viewer")["status"] == "authenticated"


@pytest.mark.parametrize("service", ["policy", "enrollment", "verification", "gateway"])
def test_production_refuses_to_start_on_development_defaults(service: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    result = subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        check=False,
        cwd=ROOT,
        env={**env, "MFA_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to start in production" in result.stderr
    assert "MFA_ENCRYPTION_KEYS still holds the development key" in result.stderr
    if service == "gateway":
        assert "MFA_CLIENT_API_KEYS still holds a development key" in result.stderr
