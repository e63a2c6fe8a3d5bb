"""The admin console against an attacker with a browser."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESK
from tests.real_stack import ADMIN, Stack

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
