"""Issue 11 through the real processes: recovery codes, remembered devices, unlocking,
clock drift and the notices a relying application mails."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
import redis
from faststream.redis import BinaryMessageFormatV1

from tests.real_stack import ADMIN, CLIENT, Stack, new_user, secret_of

pytestmark = [pytest.mark.e2e, pytest.mark.own_stack]  # moves the clock or stops a service


def login_of(stack: Stack, user: str, **extra: Any) -> dict[str, Any]:
    body = {"user_id": user, "email": f"{user}@example.com", "user_type": "editor", **extra}
    created = stack.http.post("/v1/logins", headers=CLIENT, json=body)
    assert created.status_code == 201, created.text
    return stack.wait(created.json()["login_id"])


def enroll_with_codes(stack: Stack, user: str) -> tuple[str, list[str]]:
    """Confirm a new authenticator: its secret, and the recovery codes the answer carries."""
    login = login_of(stack, user)
    secret = secret_of(login["enrollment"]["otpauth_uri"])
    confirmed = stack.submit(login["login_id"], stack.code(secret))
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def use_recovery_code(stack: Stack, login_id: str, code: str) -> Any:
    return stack.http.post(
        f"/v1/logins/{login_id}/code", json={"recovery_code": code}, headers=CLIENT
    )


def test_a_recovery_code_signs_in_once_and_only_once(stack: Stack) -> None:
    user = new_user()
    _, codes = enroll_with_codes(stack, user)
    assert len(set(codes)) == 10
    assert stack.authenticator(user)["recovery_codes_left"] == 10

    first = login_of(stack, user)
    used = use_recovery_code(stack, first["login_id"], codes[0].upper())
    assert used.status_code == 200, used.text
    assert (used.json()["status"], used.json()["passed_by"]) == ("authenticated", "recovery_code")
    assert used.json()["recovery_codes"] is None  # shown once, at enrollment only

    again = use_recovery_code(stack, login_of(stack, user)["login_id"], codes[0])
    assert again.status_code == 400
    assert (again.json()["error"]["code"], again.json()["error"]["attempts_left"]) == (
        "invalid_code",
        4,  # counted toward the lockout like any wrong code
    )
    other = use_recovery_code(stack, login_of(stack, user)["login_id"], codes[1])
    assert other.status_code == 200, other.text
    assert stack.authenticator(user)["recovery_codes_left"] == 8


def test_a_recovery_code_cannot_stand_in_for_the_first_code_of_a_new_authenticator(
    stack: Stack,
) -> None:
    login = login_of(stack, new_user())
    refused = use_recovery_code(stack, login["login_id"], "abcde-23456")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "no_recovery_codes_yet"


def test_new_recovery_codes_retire_the_old_set(stack: Stack) -> None:
    user = new_user()
    secret, old = enroll_with_codes(stack, user)
    stack.next_step()
    login = login_of(stack, user)
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200
    renewed = stack.http.post(f"/v1/logins/{login['login_id']}/recovery-codes", headers=CLIENT)
    assert renewed.status_code == 200, renewed.text
    new = renewed.json()["recovery_codes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    assert use_recovery_code(stack, login_of(stack, user)["login_id"], old[2]).status_code == 400
    assert use_recovery_code(stack, login_of(stack, user)["login_id"], new[2]).status_code == 200


def test_only_a_login_that_just_passed_a_code_gets_new_recovery_codes(stack: Stack) -> None:
    user = new_user()
    enroll_with_codes(stack, user)
    waiting = login_of(stack, user)  # asks for a code: none passed yet
    refused = stack.http.post(f"/v1/logins/{waiting['login_id']}/recovery-codes", headers=CLIENT)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "code_not_passed")


def remember(stack: Stack, login_id: str) -> Any:
    return stack.http.post(f"/v1/logins/{login_id}/device", headers=CLIENT)


def remembered_device(stack: Stack, user: str, secret: str) -> str:
    """Pass a code in a fresh step and have the device remembered: its token."""
    stack.next_step()
    login = login_of(stack, user)
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200
    issued = remember(stack, login["login_id"])
    assert issued.status_code == 201, issued.text
    assert remember(stack, login["login_id"]).status_code == 409  # once per login
    return str(issued.json()["device_token"])


def test_remembering_devices_is_off_unless_the_policy_sets_days(stack: Stack) -> None:
    user = new_user()
    secret, _ = enroll_with_codes(stack, user)
    stack.next_step()
    login = login_of(stack, user)
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200
    refused = remember(stack, login["login_id"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "remembering_off")


def test_a_remembered_device_skips_the_code_until_revoked_or_reset(stack: Stack) -> None:
    stack.set_policy(user_types=["editor"], remember_device_days=7)
    user, stranger = new_user(), new_user()
    secret, _ = enroll_with_codes(stack, user)
    token = remembered_device(stack, user, secret)

    skipped = login_of(stack, user, device_token=token)
    assert (skipped["status"], skipped["passed_by"], skipped["mfa_required"]) == (
        "authenticated",
        "remembered_device",
        True,
    )
    enroll_with_codes(stack, stranger)
    assert login_of(stack, stranger, device_token=token)["status"] == "code_required"
    assert login_of(stack, user, device_token="rd_forged")["status"] == "code_required"
    assert stack.authenticator(user)["remembered_devices"] == 1

    forgotten = stack.http.post("/v1/devices/forget", json={"device_token": token}, headers=CLIENT)
    assert forgotten.json() == {"forgotten": True}
    assert login_of(stack, user, device_token=token)["status"] == "code_required"

    token = remembered_device(stack, user, secret)
    revoked = stack.http.delete(f"/v1/admin/users/{user}/devices", headers=ADMIN)
    assert revoked.json() == {"user_id": user, "revoked": 1}
    assert login_of(stack, user, device_token=token)["status"] == "code_required"

    token = remembered_device(stack, user, secret)
    assert stack.reset(user).status_code == 200
    after_reset = login_of(stack, user, device_token=token)
    assert after_reset["status"] == "enrollment_required"  # the new authenticator's QR
    assert stack.authenticator(user)["remembered_devices"] == 0


def lock(stack: Stack, user: str, secret: str) -> None:
    login = login_of(stack, user)
    for _ in range(5):
        stack.submit(login["login_id"], stack.wrong_code(secret))
    assert stack.authenticator(user)["locked_until"] is not None


def test_an_admin_unlocks_a_user_without_a_reset(stack: Stack) -> None:
    user = new_user()
    secret, _ = enroll_with_codes(stack, user)
    lock(stack, user, secret)
    unlocked = stack.http.post(f"/v1/admin/users/{user}/authenticator/unlock", headers=ADMIN)
    assert unlocked.status_code == 200, unlocked.text
    assert stack.authenticator(user)["locked_until"] is None
    stack.next_step()
    login = login_of(stack, user)
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200  # same app


def test_drift_is_visible_after_signing_in_with_the_next_steps_code(stack: Stack) -> None:
    user = new_user()
    secret, _ = enroll_with_codes(stack, user)
    assert stack.authenticator(user)["step_offset"] == 0
    stack.next_step()
    login = login_of(stack, user)
    ahead = stack.submit(login["login_id"], stack.code(secret, 30))  # a phone 30 s fast
    assert ahead.status_code == 200, ahead.text
    assert stack.authenticator(user)["step_offset"] == 1


def notices_of(stack: Stack, user: str, count: int, within: float = 10) -> list[dict[str, Any]]:
    """The ``mfa.user.notice`` entries about ``user``, waiting for ``count`` of them."""
    env = stack.processes.env
    client = redis.Redis.from_url(env["MFA_REDIS_URL"])
    stream = f"{env['MFA_STREAM_PREFIX']}mfa.user.notice"
    deadline = time.monotonic() + within
    try:
        while True:
            bodies = [
                json.loads(BinaryMessageFormatV1.parse(fields[b"__data__"])[0])
                for _, fields in client.xrange(stream)
            ]
            mine = [b for b in bodies if b["user_id"] == user]
            if len(mine) >= count or time.monotonic() > deadline:
                return mine
            time.sleep(0.1)
    finally:
        client.close()


def test_a_notice_is_published_for_each_of_the_four_cases(stack: Stack) -> None:
    user = new_user()
    secret, codes = enroll_with_codes(stack, user)
    assert use_recovery_code(stack, login_of(stack, user)["login_id"], codes[0]).status_code == 200
    lock(stack, user, secret)
    assert stack.reset(user).status_code == 200
    notices = notices_of(stack, user, 4)
    assert [n["kind"] for n in notices] == [
        "authenticator_confirmed",
        "recovery_code_used",
        "locked",
        "authenticator_reset",
    ]
    assert {n["email"] for n in notices} == {f"{user}@example.com"}
    assert notices[1]["recovery_codes_left"] == 9
    assert notices[2]["locked_until"] is not None
    assert len({n["event_id"] for n in notices}) == 4


def test_new_recovery_codes_and_a_remembered_device_each_send_a_notice(stack: Stack) -> None:
    stack.set_policy(user_types=["editor"], remember_device_days=7)
    user = new_user()
    secret, _ = enroll_with_codes(stack, user)
    stack.next_step()
    login = login_of(stack, user)
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200
    renewed = stack.http.post(f"/v1/logins/{login['login_id']}/recovery-codes", headers=CLIENT)
    assert renewed.status_code == 200, renewed.text
    issued = remember(stack, login["login_id"])
    assert issued.status_code == 201, issued.text
    notices = notices_of(stack, user, 3)
    assert [n["kind"] for n in notices] == [
        "authenticator_confirmed",
        "recovery_codes_issued",
        "device_remembered",
    ]
    assert notices[1]["recovery_codes_left"] == 10
    until = datetime.fromisoformat(notices[2]["remembered_until"])
    assert until == datetime.fromisoformat(issued.json()["expires_at"])


def test_a_remembered_device_asks_for_the_code_again_once_it_expires(stack: Stack) -> None:
    """Last in this module: it moves every service's clock a day on."""
    stack.set_policy(user_types=["editor"], remember_device_days=1)
    user = new_user()
    secret, _ = enroll_with_codes(stack, user)
    token = remembered_device(stack, user, secret)
    stack.advance(86_400 - 120)
    assert login_of(stack, user, device_token=token)["status"] == "authenticated"
    stack.advance(180)
    assert login_of(stack, user, device_token=token)["status"] == "code_required"
