"""The second review's findings that concern pages, in a real browser (issue 17;
tests/e2e/test_second_review.py has the rest). Each failed before its fix."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESK
from tests.browser.test_journeys import enroll
from tests.real_stack import ADMIN, CLIENT, Person, Stack, new_user, put_person, secret_of

pytestmark = [pytest.mark.browser, pytest.mark.own_stack]  # pauses verification


def desk(browser: Browser, stack: Stack) -> Page:
    return browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK).new_page()


def test_a_browser_holding_the_login_id_sees_no_recovery_codes_after_a_timeout(
    browser: Browser, stack: Stack
) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "editor")
    secret = secret_of(login["enrollment"]["otpauth_uri"])
    verification = stack.processes.children["verification"]
    os.kill(verification.pid, signal.SIGSTOP)  # the answer comes after the API's wait
    try:
        assert stack.submit(login["login_id"], stack.code(secret)).status_code == 504
    finally:
        os.kill(verification.pid, signal.SIGCONT)
    deadline = time.monotonic() + 30
    while not stack.authenticator(user)["confirmed"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stranger = desk(browser, stack)  # no cookie: it never started or typed anything
    stranger.goto(f"/mfa/{login['login_id']}")
    expect(stranger.locator("h1")).not_to_have_text(re.compile("recovery codes", re.I))
    expect(stranger.locator("#recovery-codes")).to_have_count(0)
    codes = stack.http.get(f"/v1/logins/{login['login_id']}", headers=CLIENT).json()
    assert len(codes["recovery_codes"]) == 10  # they were there: the key that sent the code


def test_an_administrator_with_a_long_e_mail_changes_the_policy_and_resets(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"admin-{tag}@{'d' * 60}.{'e' * 60}.imageshop.example"
    assert len(f"user:{email}") > 128  # over the old limit of requested_by
    person = Person(f"admin-{tag}", email, "admin", f"pw-{uuid.uuid4().hex}")
    put_person(stack, person)
    target = new_user()
    stack.enroll(target)
    console = desk(browser, stack)
    enroll(console, stack, person, tmp_path)
    console.goto("/admin")
    console.fill("#add-user", target)
    console.click("form[action='/admin/policy/users'] button[value=add]")
    expect(console.locator(".notice")).to_contain_text("Policy saved")
    console.fill("#q", target)
    console.click("form[action='/admin/users'] button[type=submit]")
    console.click("#reset")
    console.click("#confirm-reset")
    expect(console.locator(".notice")).to_contain_text("Authenticator reset")
    assert stack.authenticator(target)["enrolled"] is False


def test_the_consoles_csv_download_is_never_cached(browser: Browser, stack: Stack) -> None:
    console = desk(browser, stack)
    console.goto("/admin/signin")
    console.fill("#api_key", ADMIN["Authorization"].removeprefix("Bearer "))
    console.click("form[action='/admin/signin'] button[type=submit]")
    console.goto("/admin/coverage")
    with (
        console.expect_download() as download,
        console.expect_response(re.compile(r"/admin/coverage\.csv")) as answer,
    ):
        console.click("#csv")
    assert answer.value.headers["cache-control"] == "no-store"
    assert download.value.suggested_filename.endswith(".csv")
