"""An imported HOTP token's code sent twice at once, with two verification replicas:
exactly one sign-in; and no imported secret in clear on any stream."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests.e2e.test_imports import new_secret, oathtool, post_file
from tests.e2e.test_operations import wait_until
from tests.e2e.test_organizations import new_organization
from tests.real_stack import Stack, new_user

# Starts a second verification replica (and stops it): a stack of its own.
pytestmark = [pytest.mark.e2e, pytest.mark.own_stack]


def test_two_replicas_racing_on_one_hotp_code_let_exactly_one_pass(stack: Stack) -> None:
    organization = new_organization(stack)
    users = [new_user() for _ in range(6)]
    secrets = {u: new_secret() for u in users}
    text = "".join(
        f"{u},{u}@corp.example,otpauth://hotp/Corp:{u}?secret={secrets[u]}&counter=0\n"
        for u in users
    )
    dry = post_file(organization, text)
    applied = post_file(organization, text, apply="true", plan=dry.json()["plan"])
    assert applied.status_code == 200, applied.text

    stack.processes.start_service("verification", replica=1)
    try:
        log = stack.processes.children["verification-1"].log_path
        assert log is not None
        wait_until(lambda: "service_started" in log.read_text())
        for user in users:
            login = organization.start_login(user)
            code = oathtool("--hotp", "--counter=0", "--base32", secrets[user])
            with ThreadPoolExecutor(2) as pool:
                sent = [pool.submit(organization.submit, login["login_id"], code) for _ in "ab"]
                answers = [s.result() for s in sent]
            assert sorted(a.status_code for a in answers) in ([200, 400], [200, 409]), [
                a.text for a in answers
            ]
        assert '"event": "code_checked"' in log.read_text()  # the replica took its share
    finally:
        stack.processes.children.pop("verification-1").stop()

    env = stack.processes.env
    client = redis.Redis.from_url(env["MFA_REDIS_URL"])
    try:
        streams = client.keys(f"{env['MFA_STREAM_PREFIX']}mfa.*")
        entries = b"".join(
            value
            for s in streams
            if client.type(s) == b"stream"
            for _, fields in client.xrange(s)
            for value in fields.values()
        )
    finally:
        client.close()
    assert b"authenticator.imported" in b"".join(streams)
    for secret in secrets.values():
        assert secret.encode() not in entries
