"""The one-request login (issue 22) through the real processes: POST /v1/logins with
the code (and a wait) is decided, checked and answered at once, under exactly the rules
of the three-step flow: lockout, replay, enrollment, users MFA does not cover."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.real_stack import CLIENT, Stack, new_user, secret_of

pytestmark = pytest.mark.e2e


def one_request(
    stack: Stack, user: str, user_type: str = "editor", **fields: Any
) -> httpx.Response:
    body = {"user_id": user, "email": f"{user}@example.com", "user_type": user_type, **fields}
    return stack.http.post("/v1/logins", json=body, headers=CLIENT)


def test_an_enrolled_user_signs_in_with_one_request(stack: Stack) -> None:
    user = new_user()
    secret = stack.enroll(user)
    stack.next_step()
    answer = one_request(stack, user, code=stack.code(secret), wait=10)
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "authenticated"
    login = stack.wait(answer.json()["login_id"], 0)
    assert login["status"] == "authenticated"  # the same login, read back


def test_a_wrong_code_is_refused_as_the_code_step_refuses_it_and_the_login_stays_open(
    stack: Stack,
) -> None:
    user = new_user()
    secret = stack.enroll(user)
    stack.next_step()
    wrong = one_request(stack, user, code=stack.wrong_code(secret), wait=10)
    assert wrong.status_code == 400, wrong.text
    body = wrong.json()
    assert (body["error"]["code"], body["error"]["attempts_left"]) == ("invalid_code", 4)
    retried = stack.submit(body["login_id"], stack.code(secret))  # the same login, step two
    assert retried.status_code == 200, retried.text


def test_wrong_codes_sent_in_one_request_lock_the_user_as_the_code_step_does(
    stack: Stack,
) -> None:
    user = new_user()
    secret = stack.enroll(user)
    stack.next_step()
    statuses = [
        one_request(stack, user, code=stack.wrong_code(secret), wait=10).status_code
        for _ in range(5)
    ]
    assert statuses == [400, 400, 400, 400, 423]
    locked = one_request(stack, user, code=stack.code(secret), wait=10)
    assert locked.status_code == 423, locked.text  # the right code, while locked
    three_step = stack.start_login(user, f"{user}@example.com", "editor")
    assert stack.submit(three_step["login_id"], stack.code(secret)).status_code == 423


def test_a_code_used_once_is_a_replay_in_either_flow(stack: Stack) -> None:
    user = new_user()
    secret = stack.enroll(user)
    stack.next_step()
    code = stack.code(secret)
    assert one_request(stack, user, code=code, wait=10).status_code == 201
    replayed = one_request(stack, user, code=code, wait=10)
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"]["code"] == "reused_code"
    login = stack.start_login(user, f"{user}@example.com", "editor")
    assert stack.submit(login["login_id"], code).json()["error"]["code"] == "reused_code"


def test_one_code_sent_both_ways_at_once_signs_in_exactly_once(stack: Stack) -> None:
    for _ in range(3):
        user = new_user()
        secret = stack.enroll(user)
        stack.next_step()
        open_login = stack.start_login(user, f"{user}@example.com", "editor")
        code = stack.code(secret)
        base = stack.processes.gateway_url
        with (
            httpx.Client(base_url=base, timeout=30) as first,
            httpx.Client(base_url=base, timeout=30) as second,
            ThreadPoolExecutor(2) as pool,
        ):
            body = {"user_id": user, "email": f"{user}@example.com", "user_type": "editor"}
            answers = [
                pool.submit(
                    first.post,
                    f"/v1/logins/{open_login['login_id']}/code",
                    json={"code": code},
                    headers=CLIENT,
                ),
                pool.submit(
                    second.post,
                    "/v1/logins",
                    json={**body, "code": code, "wait": 10},
                    headers=CLIENT,
                ),
            ]
            statuses = sorted(a.result().status_code for a in answers)
        assert statuses in ([200, 400], [201, 400]), statuses
        stack.next_step()


def test_a_user_to_enroll_gets_the_qr_and_their_code_is_not_checked(stack: Stack) -> None:
    user = new_user()
    answer = one_request(stack, user, code="123456", wait=10)
    assert answer.status_code == 201, answer.text
    login = answer.json()
    assert login["status"] == "enrollment_required"
    secret = secret_of(login["enrollment"]["otpauth_uri"])
    answers = [stack.submit(login["login_id"], stack.wrong_code(secret)) for _ in range(4)]
    # Four wrong codes leave one attempt: the one-request code was never counted.
    assert answers[-1].json()["error"]["attempts_left"] == 1, answers[-1].text
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200


def test_a_user_mfa_does_not_cover_is_authenticated_with_no_check(stack: Stack) -> None:
    answer = one_request(stack, new_user(), user_type="viewer", code="123456", wait=10)
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "authenticated"


def test_wait_alone_brings_the_decision_in_the_first_answer(stack: Stack) -> None:
    user = new_user()
    stack.enroll(user)
    answer = one_request(stack, user, wait=10)
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "code_required"
    without = one_request(stack, user)
    assert without.json()["status"] == "pending"  # no wait: answered at once, as before


def test_a_code_and_a_recovery_code_together_are_a_clear_error(stack: Stack) -> None:
    both = one_request(stack, new_user(), code="123456", recovery_code="abcde-fghij", wait=1)
    assert both.status_code == 422, both.text
    assert one_request(stack, new_user(), code="12345", wait=1).status_code == 422
    assert one_request(stack, new_user(), code="123456", wait=999).status_code == 422
