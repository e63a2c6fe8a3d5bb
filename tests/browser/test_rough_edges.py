"""Issue 23, in part: the sign-in form's errors, in Chromium. Each test fails on the
pages before the change (an incomplete form answered raw JSON; errors not linked to
their fields)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESK
from tests.browser.test_console_security import look_up
from tests.browser.test_journeys import (
    admin_console,
    enroll,
    enrolled_and_back,
    sign_in,
    sign_out,
    type_code,
)
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
    expect(page.locator("#recovery_code")).to_be_focused()  # where the fix is typed
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


CONTRAST = """(el) => {
  const rgb = (c) => c.match(/\\d+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const style = getComputedStyle(el);
  const edge = lum(rgb(style.borderTopColor));
  const ring = lum(rgb(style.outlineColor));
  let under = el.parentElement;  // what the field sits on: the first opaque background
  while (under && getComputedStyle(under).backgroundColor.startsWith("rgba(0, 0, 0, 0")) {
    under = under.parentElement;
  }
  const page = lum(rgb(getComputedStyle(under || document.documentElement).backgroundColor));
  const ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  return [ratio(edge, page), ratio(ring, page)];
}"""


def test_a_fields_edge_and_focus_ring_stand_out_three_to_one(page: Page) -> None:
    page.goto("/")
    page.focus("#email")
    edge, ring = page.eval_on_selector("#email", CONTRAST)
    assert edge >= 3, edge  # WCAG 1.4.11
    assert ring >= 3, ring


def test_the_enrollment_page_opens_at_its_instructions_with_a_silent_countdown_bar(
    browser: Browser, stack: Stack
) -> None:
    narrow = browser.new_context(
        base_url=stack.processes.gateway_url, viewport={"width": 320, "height": 640}
    ).new_page()
    sign_in(narrow, add_person(stack, "editor"))
    expect(narrow.locator("h1")).to_have_text("Set up two-step verification")
    assert narrow.evaluate("window.scrollY") == 0  # not scrolled past the steps and the QR
    expect(narrow.locator("#countdown progress")).to_have_attribute("aria-hidden", "true")
    narrow.context.close()


def test_the_reset_asks_by_e_mail_with_cancel_first_and_an_unknown_user_offers_none(
    browser: Browser, stack: Stack
) -> None:
    console = admin_console(browser, stack)
    person = add_person(stack, "editor")
    stack.enroll(person.user_id)
    look_up(console, person.email)
    console.click("#reset")
    expect(console.locator("h1")).to_contain_text(person.email)
    console.set_viewport_size({"width": 320, "height": 700})
    assert console.evaluate("document.documentElement.scrollWidth") <= 320  # wraps, no sideways
    console.set_viewport_size(DESK)
    buttons = console.locator("form:has(#confirm-reset) > a, form:has(#confirm-reset) > button")
    assert buttons.evaluate_all("els => els.map(e => e.textContent.trim())") == [
        "Cancel",
        "Yes, reset it",
    ]
    look_up_path = "/admin/users?q=nobody-" + person.user_id
    console.goto(look_up_path)
    expect(console.locator("#reset")).to_have_count(0)
    console.context.close()
