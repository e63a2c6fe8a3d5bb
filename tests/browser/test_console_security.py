"""The admin console against an attacker with a browser."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.accessibility import audit
from tests.browser.conftest import DESK
from tests.browser.test_journeys import enroll
from tests.real_stack import ADMIN, OPERATOR, Stack, add_person, put_person, secret_of

pytestmark = pytest.mark.browser


@pytest.fixture
def console(browser: Browser, stack: Stack) -> Page:
    return browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK).new_page()


def key_sign_in(page: Page, key: str) -> None:
    page.goto("/admin/signin")
    page.fill("#api_key", key)
    page.click("form[action='/admin/signin'] button[type=submit]")
    page.wait_for_load_state()


def test_wrong_keys_tried_by_someone_else_do_not_lock_the_real_admin_out(
    console: Page, browser: Browser, stack: Stack
) -> None:
    for _ in range(11):  # more than the 10 one key may be tried
        key_sign_in(console, f"guess-{uuid.uuid4().hex}")
        expect(console.locator(".error")).to_contain_text("not an admin API key")
    admin = browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK).new_page()
    key_sign_in(admin, ADMIN["Authorization"].removeprefix("Bearer "))
    expect(admin).to_have_url(re.compile(r"/admin$"))


def sign_in_with_the_admin_key(page: Page) -> None:
    key_sign_in(page, ADMIN["Authorization"].removeprefix("Bearer "))
    expect(page).to_have_url(re.compile(r"/admin$"))


def look_up(page: Page, query: str) -> None:
    page.fill("#q", query)
    page.click("form[action='/admin/users'] button[type=submit]")
    audit(page)


def test_a_look_up_crafted_as_a_path_cannot_reset_anyone(console: Page, stack: Stack) -> None:
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    stack.enroll(alice)
    sign_in_with_the_admin_key(console)
    look_up(console, f"{alice}/reset/confirm?")
    if console.locator("#reset").count():  # a Reset button for a made-up path
        console.click("#reset")
        console.wait_for_load_state()
    assert stack.authenticator(alice)["enrolled"] is True
    expect(console.locator(".error")).to_contain_text("No such user")


def test_ids_with_reserved_characters_are_encoded_in_every_form_target(
    console: Page, stack: Stack
) -> None:
    user = f"jöran+{uuid.uuid4().hex[:6]}@example.com"
    login = stack.start_login(user, "joran@example.com", "editor")
    secret = secret_of(login["enrollment"]["otpauth_uri"])
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200
    sign_in_with_the_admin_key(console)
    look_up(console, user.upper())
    action = console.locator("form:has(#reset)").get_attribute("action")
    assert action is not None
    for encoded in ("%2B", "%40", "%C3%B6"):  # + @ ö
        assert encoded in action
    console.click("#reset")
    expect(console.locator("h1")).to_contain_text(f"Reset the authenticator of {user}")
    console.click("#confirm-reset")
    expect(console.locator(".notice")).to_contain_text("Authenticator reset")
    assert stack.authenticator(user)["enrolled"] is False


def test_a_console_opened_with_a_key_closes_when_the_key_is_revoked(
    console: Page, stack: Stack
) -> None:
    issued = stack.http.post(
        "/v1/operator/organizations/default/keys",
        headers=OPERATOR,
        json={"role": "admin", "name": "a console"},
    ).json()
    key_sign_in(console, issued["key"])
    expect(console).to_have_url(re.compile(r"/admin$"))
    path = f"/v1/operator/organizations/default/keys/{issued['key_id']}"
    assert stack.http.delete(path, headers=OPERATOR).status_code == 200
    time.sleep(1.0)
    console.goto("/admin")
    expect(console).to_have_url(re.compile(r"/admin/signin$"))


def test_a_console_user_no_longer_of_an_admin_type_loses_the_console_at_once(
    console: Page, stack: Stack, tmp_path: Path
) -> None:
    person = add_person(stack, "admin")
    enroll(console, stack, person, tmp_path)  # admins pass their own authenticator
    console.goto("/admin")
    expect(console).to_have_url(re.compile(r"/admin$"))
    put_person(stack, replace(person, user_type="editor"))
    console.goto("/admin")
    expect(console).to_have_url(re.compile(r"/admin/signin$"))


def test_two_admins_saving_at_once_lose_nothing_the_second_is_told_what_changed(
    console: Page, browser: Browser, stack: Stack
) -> None:
    stack.set_policy(user_types=["editor"])
    other = browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK).new_page()
    for page in (console, other):
        sign_in_with_the_admin_key(page)
    console.locator("#policy-form input[name=user_types][value=editor]").uncheck()
    console.fill("#other_type", "contributor")
    console.click("#policy-form button[type=submit]")
    expect(console.locator(".notice")).to_contain_text("Policy saved")
    other.locator("#policy-form input[name=all_users]").check()  # on the page it loaded
    with other.expect_response(re.compile(r"/admin/policy$")) as answer:
        other.click("#policy-form button[type=submit]")
    assert answer.value.status == 409
    expect(other.locator(".error")).to_contain_text("user types added: contributor")
    expect(other.locator(".error")).to_contain_text("user types removed: editor")
    policy = stack.http.get("/v1/admin/policy", headers=ADMIN).json()
    assert (policy["all_users"], policy["user_types"]) == (False, ["contributor"])
    other.fill("#add-user", "vip@example.com")  # a delta applies over whatever is current
    other.click("form:has(#add-user) button[type=submit]")
    expect(other.locator(".notice")).to_contain_text("Policy saved")
    policy = stack.http.get("/v1/admin/policy", headers=ADMIN).json()
    assert (policy["user_types"], policy["users"]) == (["contributor"], ["vip@example.com"])
