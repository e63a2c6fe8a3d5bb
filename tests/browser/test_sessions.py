"""Sessions in a real browser: sign-out is final, and the id changes at each sign-in step."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESK, decode_rendered_qr
from tests.browser.test_journeys import confirm_enrollment, sign_in, sign_out
from tests.real_stack import Stack, add_person, secret_of

pytestmark = [pytest.mark.browser, pytest.mark.own_stack]  # moves the clock or stops a service


def session_cookie(page: Page) -> str:
    [cookie] = [c for c in page.context.cookies() if c["name"] == "mfa_session"]
    return cookie["value"]


@contextlib.contextmanager
def policy_down(stack: Stack) -> Iterator[None]:
    """No decisions while it lasts: an API login stays pending, its page waits."""
    stack.processes.children["policy"].stop()
    try:
        yield
    finally:
        stack.processes.restart("policy")
        stack.processes.wait_ready(30)


def test_a_request_in_flight_at_sign_out_does_not_sign_the_browser_back_in(
    page: Page, stack: Stack
) -> None:
    person = add_person(stack, "viewer")
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/signed-in$"))
    with policy_down(stack):
        pending = stack.http.post(
            "/v1/logins",
            headers={"Authorization": "Bearer dev-client-key"},
            json={"user_id": "someone", "email": "someone@example.com", "user_type": "editor"},
        ).json()
        # The hosted page of an undecided login waits seconds for a decision, holding
        # the session it loaded; meanwhile the browser signs out. (The slow request is
        # sent from outside the browser: Chromium would queue it on the connection
        # the sign-out needs.)
        signed_out_cookie = session_cookie(page)
        cookie = {"Cookie": f"mfa_session={signed_out_cookie}"}
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(stack.http.get, f"/mfa/{pending['login_id']}", headers=cookie)
            time.sleep(0.5)
            sign_out(page)
            assert slow.result().status_code == 200  # it finished after the sign-out
    page.goto("/signed-in")
    expect(page).to_have_url(re.compile(r"/$"))
    # Whoever kept a copy of the cookie (a stolen one, say) holds nothing any more.
    replayed = stack.http.get("/signed-in", headers=cookie)
    assert (replayed.status_code, replayed.headers["location"]) == (303, "/")


def test_the_session_id_changes_at_sign_in_and_again_after_the_mfa_step(
    page: Page, browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    page.goto("/")
    anonymous = session_cookie(page)
    person = add_person(stack, "editor")
    sign_in(page, person)
    at_mfa_step = session_cookie(page)
    confirm_enrollment(page, stack.code(secret_of(decode_rendered_qr(page, tmp_path))))
    expect(page.locator("h1")).to_have_text("You're signed in")
    signed_in = session_cookie(page)
    assert len({anonymous, at_mfa_step, signed_in}) == 3
    # The cookie of the MFA step is worth nothing once the step is passed.
    thief = browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK)
    url = stack.processes.gateway_url
    thief.add_cookies([{"name": "mfa_session", "value": at_mfa_step, "url": url}])
    stolen = thief.new_page()
    stolen.goto("/signed-in")
    expect(stolen).to_have_url(re.compile(r"/$"))
    thief.close()
