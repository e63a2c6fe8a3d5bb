"""Each service's own Redis user may write only the streams that service produces."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from deploy.localstack import free_port
from shared import streams
from tests.e2e.test_restarts import own_stack
from tests.real_stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def guarded(tmp_path: Path, mongodb_url: str) -> Stack:
    """A stack on a Redis of its own, as make run has: one ACL user per service."""
    stack = own_stack(
        tmp_path, tmp_path / "data", f"redis://127.0.0.1:{free_port()}/0", mongodb_url
    )
    yield stack  # type: ignore[misc]
    stack.close()


def test_only_verification_may_add_a_verified_code(guarded: Stack) -> None:
    prefix = guarded.processes.env["MFA_STREAM_PREFIX"]
    forged = {"__data__": b"{}"}
    for service in ("gateway", "enrollment", "policy"):
        client = redis.Redis.from_url(guarded.processes.redis_users[service])
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.xadd(prefix + streams.CODE_VERIFIED, forged)
    verification = redis.Redis.from_url(guarded.processes.redis_users["verification"])
    assert verification.xadd(prefix + streams.DEAD_LETTER, forged)  # its own outputs: yes
    url = guarded.processes.env["MFA_REDIS_URL"]
    anonymous = redis.Redis(host="127.0.0.1", port=redis.connection.parse_url(url)["port"])
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()


def test_the_whole_story_runs_on_those_users(guarded: Stack) -> None:
    guarded.set_policy(user_types=["editor"])
    secret, login = guarded.enrolled_and_back("acl-user")
    assert guarded.submit(login["login_id"], guarded.code(secret)).status_code == 200
    assert guarded.reset("acl-user").status_code == 200
    assert guarded.http.get("/readyz").status_code == 200
