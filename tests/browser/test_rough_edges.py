"""Issue 23, in part: the sign-in form's errors, in Chromium. Each test fails on the
pages before the change (an incomplete form answered raw JSON; errors not linked to
their fields)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_journeys import enroll, enrolled_and_back, sign_in, sign_out, type_code
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


def test_a_wrong_recovery_code_is_reported_beside_the_recovery_field_with_the_attempts_left(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    enrolled_and_back(page, stack, tmp_path)
    page.locator("#use-recovery-code summary").click()
    page.fill("#recovery_code", "zzzzz-zzzzz")
    page.click("#recovery-form button[type=submit]")
    page.wait_for_load_state()
    expect(page.locator("#use-recovery-code")).to_have_attribute("open", "")
    message = page.locator("#recovery-error")
    expect(message).to_contain_text("recovery code")
    expect(message).to_contain_text("4 attempts left")
    expect(message).not_to_contain_text("authenticator app")
    expect(page.locator("#recovery_code")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#code")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#code-error")).to_have_count(0)


def test_a_reused_code_says_how_many_attempts_are_left(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    person = add_person(stack, "editor")
    secret = enroll(page, stack, person, tmp_path)
    sign_out(page)
    sign_in(page, person)  # the same 30-second step: the enrollment's code is used
    type_code(page, stack.code(secret))
    expect(page.locator("#code-error")).to_contain_text("already been used")
    expect(page.locator("#code-error")).to_contain_text("attempts left")
