"""Issue 23, in part: the sign-in form's errors, in Chromium. Each test fails on the
pages before the change (an incomplete form answered raw JSON; errors not linked to
their fields)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.real_stack import Stack, add_person

pytestmark = pytest.mark.browser


def submit_sign_in(page: Page, email: str, password: str) -> int:
    page.goto("/")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_response(lambda r: r.url.endswith("/signin")) as answered:
        page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_load_state()
    return answered.value.status


def test_an_empty_sign_in_form_is_the_form_again_with_each_message_beside_its_field(
    page: Page,
) -> None:
    assert submit_sign_in(page, "", "") == 422
    expect(page.locator("h1")).to_have_text("Sign in")  # a page, never JSON
    expect(page.locator("#email-error")).to_have_text("Enter your e-mail address.")
    expect(page.locator("#password-error")).to_have_text("Enter your password.")
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email")).to_have_attribute("aria-describedby", "email-error")
    expect(page.locator("#password")).to_have_attribute("aria-describedby", "password-error")
    expect(page.locator("#email")).to_be_focused()


def test_a_missing_password_keeps_the_e_mail_and_points_at_the_password(page: Page) -> None:
    assert submit_sign_in(page, "ada@example.com", "") == 422
    expect(page.locator("#email")).to_have_value("ada@example.com")
    expect(page.locator("#email-error")).to_have_count(0)
    expect(page.locator("#password")).to_have_attribute("aria-describedby", "password-error")
    expect(page.locator("#password")).to_be_focused()


def test_a_wrong_password_is_said_and_linked_to_both_fields(page: Page, stack: Stack) -> None:
    person = add_person(stack, "editor")
    assert submit_sign_in(page, person.email, "not-the-password") == 400
    for field in ("#email", "#password"):
        expect(page.locator(field)).to_have_attribute("aria-invalid", "true")
        expect(page.locator(field)).to_have_attribute("aria-describedby", "signin-error")
