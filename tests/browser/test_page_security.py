"""What the pages promise beyond the journeys: headers, cookies, CSRF, no secrets leaked."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import decode_rendered_qr
from tests.browser.test_journeys import confirm_enrollment, sign_in
from tests.real_stack import CLIENT, Stack, add_person, secret_of

pytestmark = pytest.mark.browser


def test_pages_forbid_inline_script_and_framing(stack: Stack) -> None:
    response = stack.http.get("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text
    assert " style=" not in response.text


def test_the_session_cookie_is_httponly_and_samesite(page: Page) -> None:
    page.goto("/")
    [cookie] = page.context.cookies()
    assert cookie["name"] == "mfa_session"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"


def test_forms_without_the_csrf_token_are_refused(stack: Stack) -> None:
    with httpx.Client(base_url=stack.processes.gateway_url) as browserless:
        browserless.get("/")  # a session cookie, but no token from a rendered form
        response = browserless.post(
            "/signin", data={"email": "a@b.c", "password": "x", "csrf_token": "forged"}
        )
    assert response.status_code == 403
    assert "Page expired" in response.text


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    page: Page, stack: Stack
) -> None:
    person = add_person(stack, "viewer")
    page.goto("/")
    page.fill("#email", person.email)
    page.fill("#password", "not the password")
    page.click("form[action='/signin'] button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text(
        "That e-mail and password do not match an account."
    )


def test_an_api_login_finishes_on_the_hosted_page_and_only_in_one_browser(
    page: Page, browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    person = add_person(stack, "editor")
    created = stack.http.post(
        "/v1/logins",
        headers=CLIENT,
        json={"user_id": person.user_id, "email": person.email, "user_type": "editor"},
    ).json()
    page.goto(f"/mfa/{created['login_id']}")
    expect(page.locator("h1")).to_have_text("Set up two-step verification")

    other = browser.new_context(base_url=stack.processes.gateway_url).new_page()
    other.goto(f"/mfa/{created['login_id']}")
    expect(other.locator("h1")).to_have_text("Open elsewhere")
    assert "<svg" not in other.content()
    other.context.close()

    confirm_enrollment(page, stack.code(secret_of(decode_rendered_qr(page, tmp_path))))
    expect(page.locator("h1")).to_have_text("Verified")
    assert stack.wait(created["login_id"], 0)["status"] == "authenticated"


def test_no_code_or_secret_travels_in_a_url_or_a_log(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    person = add_person(stack, "editor")
    sign_in(page, person)
    secret = secret_of(decode_rendered_qr(page, tmp_path))
    code = stack.code(secret)
    confirm_enrollment(page, code)
    expect(page.locator("h1")).to_have_text("You're signed in")
    assert urls
    for url in urls:
        assert secret not in url
        assert not re.search(rf"\b{code}\b", url)
        assert person.password not in url
    logs = stack.logs()
    assert secret not in logs
    assert f'"{code}"' not in logs
    assert person.password not in logs
