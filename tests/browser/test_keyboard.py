"""Issue 23: the journeys with the keyboard alone (Tab, Enter and typing), in Chromium.
Each step Tabs to the next control, checks that it shows where the focus is, and acts
with Enter: no click, no fill, no focus set by the test."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.accessibility import audit
from tests.browser.conftest import DESK
from tests.real_stack import ADMIN, Person, Stack, add_person, secret_of

pytestmark = pytest.mark.browser

FOCUS_SHOWN = """(el) => {
  const style = getComputedStyle(el);
  return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0
    || style.boxShadow !== "none";
}"""


def tab_to(page: Page, selector: str, most: int = 40) -> None:
    """Press Tab until ``selector`` has the focus, which the page must show (WCAG 2.4.7)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            assert page.eval_on_selector(selector, FOCUS_SHOWN), f"{selector}: focus not shown"
            return
    raise AssertionError(f"{selector} never took the focus in {most} Tabs")


def press_enter(page: Page) -> None:
    """Enter on a form's field or button, or on a link: the next page, audited."""
    with page.expect_navigation():
        page.keyboard.press("Enter")
    audit(page)


def sign_in_by_keyboard(page: Page, person: Person) -> None:
    page.goto("/")
    expect(page.locator("#email")).to_be_focused()  # the form's first field, at once
    page.keyboard.type(person.email)
    page.keyboard.press("Tab")
    page.keyboard.type(person.password)
    press_enter(page)


def sign_out_by_keyboard(page: Page) -> None:
    tab_to(page, "header form[action='/signout'] button")
    press_enter(page)
    expect(page).to_have_url(re.compile(r"/$"))


def enrolled_by_keyboard(page: Page, stack: Stack, person: Person) -> tuple[str, list[str]]:
    """The first sign-in: the setup key read from the page, the first code typed, the
    recovery codes copied; the secret and the codes."""
    sign_in_by_keyboard(page, person)
    expect(page.locator("h1")).to_have_text("Set up two-step verification")
    tab_to(page, "#manual summary")
    page.keyboard.press("Enter")  # "Can't scan the code?" opens
    expect(page.locator("#setup-key")).to_be_visible()
    secret = secret_of(f"otpauth://totp/x?secret={page.inner_text('#setup-key')}".replace(" ", ""))
    tab_to(page, "#code")
    page.keyboard.type(stack.code(secret))
    press_enter(page)
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    tab_to(page, "#copy-codes")
    page.keyboard.press("Enter")
    expect(page.locator("#codes-status")).to_have_text("Copied 10 codes.")
    tab_to(page, "#continue")
    press_enter(page)
    expect(page.locator("h1")).to_have_text("You're signed in")
    return secret, codes


@pytest.fixture
def keyboard_page(browser: Browser, stack: Stack) -> Page:
    context = browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    return context.new_page()


def test_sign_in_enrollment_and_a_code_with_the_keyboard_alone(
    keyboard_page: Page, stack: Stack
) -> None:
    page = keyboard_page
    person = add_person(stack, "editor")
    secret, _ = enrolled_by_keyboard(page, stack, person)
    sign_out_by_keyboard(page)
    stack.next_step()
    sign_in_by_keyboard(page, person)
    expect(page.locator("h1")).to_have_text("Enter your code")
    expect(page.locator("#code")).to_be_focused()  # a daily code: the field has the focus
    page.keyboard.type(stack.code(secret))
    press_enter(page)
    expect(page.locator("h1")).to_have_text("You're signed in")
    page.context.close()


def test_a_recovery_code_with_the_keyboard_alone(keyboard_page: Page, stack: Stack) -> None:
    page = keyboard_page
    person = add_person(stack, "editor")
    _, codes = enrolled_by_keyboard(page, stack, person)
    sign_out_by_keyboard(page)
    sign_in_by_keyboard(page, person)
    tab_to(page, "#use-recovery-code summary")
    page.keyboard.press("Enter")  # "Lost your phone?" opens
    tab_to(page, "#recovery_code")
    page.keyboard.type(codes[0])
    press_enter(page)
    expect(page.locator("h1")).to_have_text("You're signed in")
    page.context.close()


def test_the_console_reset_with_the_keyboard_alone(keyboard_page: Page, stack: Stack) -> None:
    page = keyboard_page
    person = add_person(stack, "editor")
    stack.enroll(person.user_id)
    page.goto("/admin/signin")
    expect(page.locator("#api_key")).to_be_focused()
    page.keyboard.type(ADMIN["Authorization"].removeprefix("Bearer "))
    press_enter(page)
    expect(page).to_have_url(re.compile(r"/admin$"))
    tab_to(page, "#q")
    page.keyboard.type(person.email)
    press_enter(page)
    tab_to(page, "#reset")
    press_enter(page)
    expect(page.locator("h1")).to_contain_text(person.email)
    tab_to(page, "#cancel-reset")  # Cancel comes first, then the reset itself
    tab_to(page, "#confirm-reset", most=1)
    press_enter(page)
    expect(page.locator(".notice")).to_contain_text("reset")
    page.context.close()
