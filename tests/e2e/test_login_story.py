"""The seed's story, scenario by scenario, through the HTTP API of the real stack."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from shared.crypto import Keyring
from shared.logging import LOG_PSEUDONYM_PURPOSE, login_ref
from shared.settings import DEV_ENCRYPTION_KEYS
from tests.real_stack import Stack, decode_qr, new_user, secret_of

pytestmark = [pytest.mark.e2e, pytest.mark.own_stack]  # moves the clock or stops a service


def test_admin_enables_mfa_for_all_users_user_types_or_individual_users(stack: Stack) -> None:
    vip, editor, viewer = new_user(), new_user(), new_user()
    policy = stack.set_policy(user_types=["editor"], users=[f"{vip}@example.com"])
    assert (policy["user_types"], policy["users"], policy["all_users"]) == (
        ["editor"],
        [f"{vip}@example.com"],
        False,
    )
    assert policy["version"] >= 1
    cases = {vip: "viewer", editor: "editor", viewer: "viewer"}
    states = {u: stack.start_login(u, f"{u}@example.com", t) for u, t in cases.items()}
    assert states[vip]["status"] == "enrollment_required"
    assert states[editor]["status"] == "enrollment_required"
    assert (states[viewer]["status"], states[viewer]["mfa_required"]) == ("authenticated", False)

    stack.set_policy(all_users=True)
    assert stack.start_login(viewer, f"{viewer}@example.com", "viewer")["status"] == (
        "enrollment_required"
    )


def test_first_login_shows_a_standard_qr_code_and_the_current_code_confirms_it(
    stack: Stack, tmp_path: Path
) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "editor")
    assert (login["status"], login["mfa_required"]) == ("enrollment_required", True)
    enrollment = login["enrollment"]
    uri = urlparse(enrollment["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/Imageshop:{user}@example.com"
    assert "issuer=Imageshop" in uri.query
    assert "algorithm=SHA1" in uri.query
    assert "digits=6" in uri.query
    assert "period=30" in uri.query
    assert re.fullmatch(r"[A-Z2-7]{32}", enrollment["secret"])
    assert secret_of(enrollment["otpauth_uri"]) == enrollment["secret"]
    assert enrollment["qr_svg"].lstrip().startswith("<?xml")
    assert decode_qr(enrollment["qr_svg"], tmp_path) == enrollment["otpauth_uri"]

    response = stack.submit(login["login_id"], stack.code(enrollment["secret"]))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "authenticated"
    assert response.json()["enrollment"] is None
    status = stack.authenticator(user)
    assert (status["enrolled"], status["confirmed"]) == (True, True)
    assert status["confirmed_at"] is not None


def test_later_logins_ask_for_the_code_only_and_never_show_the_secret(stack: Stack) -> None:
    user = new_user()
    secret, login = stack.enrolled_and_back(user)
    assert (login["status"], login["enrollment"]) == ("code_required", None)
    after_code = stack.submit(login["login_id"], stack.code(secret))
    assert after_code.status_code == 200, after_code.text
    for text in (str(login), after_code.text, stack.wait(login["login_id"], 0).__repr__()):
        assert secret not in text
        assert "otpauth" not in text
        assert "<svg" not in text


def test_a_half_finished_enrollment_shows_the_same_qr_at_the_next_login(stack: Stack) -> None:
    user = new_user()
    first = stack.start_login(user, f"{user}@example.com", "editor")
    second = stack.start_login(user, f"{user}@example.com", "editor")
    assert second["enrollment"]["secret"] == first["enrollment"]["secret"]
    response = stack.submit(second["login_id"], stack.code(first["enrollment"]["secret"]))
    assert response.status_code == 200, response.text


def test_a_late_code_gets_its_own_error_and_the_retry_succeeds(stack: Stack) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "editor")
    secret = login["enrollment"]["secret"]
    late = stack.submit(login["login_id"], stack.code(secret, -90))
    assert late.status_code == 400
    body = late.json()
    assert body["status"] == "enrollment_required"
    assert body["error"]["code"] == "expired_code"
    assert "expired" in body["error"]["message"]
    assert "next code" in body["error"]["message"]
    assert body["error"]["attempts_left"] == 4
    assert body["enrollment"]["secret"] == secret  # the QR stays on screen for the retry
    retry = stack.submit(login["login_id"], stack.code(secret))
    assert retry.status_code == 200, retry.text


def test_a_wrong_code_says_how_many_attempts_are_left(stack: Stack) -> None:
    user = new_user()
    secret, login = stack.enrolled_and_back(user)
    wrong = "000000" if stack.code(secret) != "000000" else "111111"
    response = stack.submit(login["login_id"], wrong)
    assert response.status_code == 400
    assert response.json()["status"] == "code_required"
    assert response.json()["error"]["code"] == "invalid_code"
    assert response.json()["error"]["attempts_left"] == 4


def test_a_code_already_used_is_refused(stack: Stack) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "editor")
    code = stack.code(login["enrollment"]["secret"])
    assert stack.submit(login["login_id"], code).status_code == 200
    again = stack.start_login(user, f"{user}@example.com", "editor")
    replay = stack.submit(again["login_id"], code)
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "reused_code"


def test_five_failures_lock_the_user_for_fifteen_minutes_and_success_resets(
    stack: Stack,
) -> None:
    user = new_user()
    secret, login = stack.enrolled_and_back(user)
    old = stack.code(secret, -120)
    left = [stack.submit(login["login_id"], old).json()["error"]["attempts_left"] for _ in range(4)]
    assert left == [4, 3, 2, 1]
    fifth = stack.submit(login["login_id"], old)
    assert fifth.status_code == 423
    locked_until = datetime.fromisoformat(fifth.json()["locked_until"])
    expected = datetime.fromtimestamp(stack.now(), locked_until.tzinfo) + timedelta(minutes=15)
    assert abs((locked_until - expected).total_seconds()) < 5
    assert fifth.json()["status"] == "locked"
    assert stack.wait(login["login_id"], 0)["status"] == "locked"
    right_but_locked = stack.submit(login["login_id"], stack.code(secret))
    assert right_but_locked.status_code == 423
    assert stack.authenticator(user)["locked_until"] is not None

    stack.advance(15 * 60)
    later = stack.start_login(user, f"{user}@example.com", "editor")
    assert stack.submit(later["login_id"], stack.code(secret)).status_code == 200
    assert stack.authenticator(user)["locked_until"] is None
    stack.next_step()
    after = stack.start_login(user, f"{user}@example.com", "editor")
    one_wrong = stack.submit(after["login_id"], stack.code(secret, -120))
    assert one_wrong.json()["error"]["attempts_left"] == 4  # the success reset the count


def test_an_admin_reset_retires_the_old_secret_and_registration_starts_over(
    stack: Stack,
) -> None:
    user = new_user()
    old_secret = stack.enroll(user)
    stack.next_step()
    in_flight = stack.start_login(user, f"{user}@example.com", "editor")
    response = stack.reset(user)
    assert response.status_code == 200
    assert response.json() == {"user_id": user, "reset": True}
    assert stack.authenticator(user)["enrolled"] is False
    # A login that was waiting for the old code is over.
    assert stack.submit(in_flight["login_id"], stack.code(old_secret)).status_code == 410
    fresh = stack.start_login(user, f"{user}@example.com", "editor")
    assert fresh["status"] == "enrollment_required"
    new_secret = fresh["enrollment"]["secret"]
    assert new_secret != old_secret
    old_code = stack.submit(fresh["login_id"], stack.code(old_secret))
    assert old_code.status_code == 400
    assert old_code.json()["error"]["code"] == "invalid_code"
    assert stack.submit(fresh["login_id"], stack.code(new_secret)).status_code == 200


def test_users_not_covered_by_the_policy_log_in_without_a_code(stack: Stack) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "viewer")
    assert (login["status"], login["mfa_required"], login["enrollment"]) == (
        "authenticated",
        False,
        None,
    )
    response = stack.submit(login["login_id"], "123456")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_waiting_for_code"


def test_an_unfinished_enrollment_expires_after_fifteen_minutes_not_five(stack: Stack) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "editor")
    secret = login["enrollment"]["secret"]
    stack.advance(5 * 60 + 1)  # a code step's time: a first sign-in gets more (issue 23)
    assert stack.wait(login["login_id"], 0)["status"] == "enrollment_required"
    stack.advance(10 * 60)
    assert stack.wait(login["login_id"], 0)["status"] == "expired"
    response = stack.submit(login["login_id"], stack.code(secret))
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "login_expired"


def test_logs_carry_one_line_per_event_and_never_a_secret_or_code(stack: Stack) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "editor")
    secret = login["enrollment"]["secret"]
    code = stack.code(secret)
    assert stack.submit(login["login_id"], code).status_code == 200
    logs = stack.logs()
    keys = stack.processes.env.get("MFA_ENCRYPTION_KEYS", DEV_ENCRYPTION_KEYS)
    pseudonym = login_ref(login["login_id"], Keyring.parse(keys).derive(LOG_PSEUDONYM_PURPOSE))
    assert login["login_id"] not in logs  # it opens the login's hosted page
    assert logs.count(f'"login_ref": "{pseudonym}"') >= 4  # every service's lines about it
    assert '"event": "code_checked"' in logs
    assert '"outcome": "verified"' in logs
    assert secret not in logs
    assert "otpauth://" not in logs
    assert f'"{code}"' not in logs
