"""Issue 23: every form error is a page, never the API's JSON, in Chromium. A field the
page's own limits let through comes back beside its field; a form changed or left open
(no security token, a field that is not a number) is a page with the way back. Each test
fails on the pages before the change (they answered {"error": ...} as JSON)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_console_security import sign_in_with_the_admin_key
from tests.browser.test_journeys import enrolled_and_back
from tests.real_stack import Stack

pytestmark = pytest.mark.browser


def posted(page: Page, form: str, change: str = "") -> int:
    """Submit ``form`` after running ``change`` on it (``f``: the form element), as a
    stale or altered page would; the answer's status."""
    if change:
        page.eval_on_selector(form, f"f => {{ {change} }}")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.eval_on_selector(form, "f => f.submit()")
    page.wait_for_load_state()
    return answered.value.status


def is_a_page(page: Page) -> None:
    expect(page.locator("header .brand")).to_have_text("Imageshop")  # not a JSON body
    assert "application/json" not in (page.evaluate("document.contentType") or "")


def test_an_empty_admin_key_is_the_form_again_with_its_message_beside_the_field(
    page: Page,
) -> None:
    page.goto("/admin/signin")  # with the browser's own check off: the server's answer
    assert posted(page, "form[action='/admin/signin']", "f.api_key.required = false;") == 422
    is_a_page(page)
    expect(page.locator("#key-error")).to_have_text("Paste an admin API key.")
    expect(page.locator("#api_key")).to_have_attribute("aria-describedby", "key-error")


def test_an_over_long_admin_key_is_refused_as_a_wrong_one(page: Page) -> None:
    page.goto("/admin/signin")
    page.fill("#api_key", "x" * 600)
    assert posted(page, "form[action='/admin/signin']") == 401
    expect(page.locator("#key-error")).to_have_text("That is not an admin API key.")


def test_an_over_long_code_is_said_beside_the_code_field(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    enrolled_and_back(page, stack, tmp_path)
    change = "f.code.removeAttribute('maxlength'); f.code.value = '1'.repeat(40);"
    assert posted(page, "#code-form", change) == 303  # back to the code page, which says
    expect(page.locator("#code-error")).to_have_text(
        "Enter the digits your authenticator app shows."
    )


def test_a_form_without_its_security_token_is_the_page_expired_page(page: Page) -> None:
    page.goto("/")
    page.fill("#email", "ada@example.com")
    page.fill("#password", "whatever")
    assert posted(page, "form[action='/signin']", "f.csrf_token.remove();") == 403
    is_a_page(page)
    expect(page.locator("h1")).to_have_text("Page expired")


def test_a_changed_console_form_is_a_page_naming_the_field_with_the_way_back(
    page: Page,
) -> None:
    sign_in_with_the_admin_key(page)
    change = (
        "f.remember_device_days.type = 'text'; f.remember_device_days.value = 'ninety';"
        "f.version.value = '';"
    )
    assert posted(page, "#policy-form", change) == 422
    is_a_page(page)
    problems = page.locator("#form-problems")
    expect(problems).to_contain_text("The days a browser is remembered is not valid.")
    expect(problems).to_contain_text("The policy's version is missing.")
    page.click("#back-to-form")
    expect(page.locator("h1")).to_have_text("Two-step verification")


def test_a_forms_address_opened_leads_to_its_page_and_a_wrong_one_is_a_page(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    enrolled_and_back(page, stack, tmp_path)
    code_page = page.url
    page.goto(code_page + "/code")  # where the recovery-codes page was answered from
    expect(page).to_have_url(code_page)
    expect(page.locator("h1")).to_have_text("Enter your code")
    missing = page.goto("/no-such-page")
    assert missing is not None
    assert missing.status == 404
    is_a_page(page)
    expect(page.locator("h1")).to_have_text("Page not found")
