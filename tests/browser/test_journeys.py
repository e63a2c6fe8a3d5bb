"""The seed's story in a real browser: the five journeys of the hosted pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.accessibility import audit
from tests.browser.conftest import DESK, decode_rendered_qr, shoot
from tests.real_stack import ADMIN, Person, Stack, add_person, secret_of

pytestmark = [pytest.mark.browser, pytest.mark.own_stack]  # its screenshots show its story only


def sign_in(page: Page, person: Person) -> None:
    page.goto("/")
    audit(page)
    page.fill("#email", person.email)
    page.fill("#password", person.password)
    page.click("form[action='/signin'] button[type=submit]")
    audit(page)  # the page the sign-in leads to: a QR, a choice, a code, or signed in


def type_code(page: Page, code: str) -> None:
    page.fill("#code", code)
    page.click("#code-form button[type=submit]")
    audit(page)  # accepted, refused, expired or locked: each says so accessibly


def confirm_enrollment(page: Page, code: str) -> list[str]:
    """Type the first code of a new authenticator: the page shows the recovery codes, once;
    return them after continuing."""
    type_code(page, code)
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    audit(page)
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    page.click("#continue")
    page.wait_for_load_state()
    return codes


def sign_out(page: Page) -> None:
    page.locator("header form[action='/signout'] button").click()
    page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/$"))


def enroll(page: Page, stack: Stack, person: Person, workdir: Path) -> str:
    """Sign in, scan the QR code as rendered, type the app's code; return the secret."""
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Set up two-step verification")
    secret = secret_of(decode_rendered_qr(page, workdir))
    confirm_enrollment(page, stack.code(secret))
    expect(page.locator("h1")).to_have_text("You're signed in")
    return secret


def enrolled_and_back(page: Page, stack: Stack, workdir: Path) -> tuple[Person, str]:
    """An enrolled editor, signed out and signing in again in a later 30-second step."""
    person = add_person(stack, "editor")
    secret = enroll(page, stack, person, workdir)
    sign_out(page)
    stack.next_step()
    sign_in(page, person)
    return person, secret


def test_1_first_sign_in_shows_a_scannable_qr_and_its_code_signs_in(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    person = add_person(stack, "editor")
    page.goto("/")
    shoot(page, "1-sign-in")
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/mfa/[\w-]+$"))
    expect(page.locator("h1")).to_have_text("Set up two-step verification")
    expect(page.locator("#issuer")).to_have_text("Imageshop")
    expect(page.locator("#account")).to_contain_text(person.email)
    code_field = page.locator("#code")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    expect(code_field).to_have_attribute("inputmode", "numeric")
    expect(code_field).to_have_attribute("pattern", "[0-9]{6}")
    # The page opens at its steps and the QR, not at the field below them (issue 23).
    expect(code_field).not_to_be_focused()
    expect(page.locator("#countdown .seconds")).to_have_text(re.compile(r"^([1-9]|[12]\d|30)$"))
    shoot(page, "2-enroll-qr")

    uri = decode_rendered_qr(page, tmp_path)
    assert uri.startswith("otpauth://totp/Imageshop:")
    assert "issuer=Imageshop" in uri
    secret = secret_of(uri)
    page.click("#manual summary")
    groups = page.locator("#setup-key").inner_text().split()
    assert all(len(group) == 4 for group in groups)
    assert "".join(groups) == secret
    shoot(page, "3-enroll-cant-scan")

    type_code(page, stack.code(secret))
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    shoot(page, "4-recovery-codes")
    page.click("#continue")
    expect(page).to_have_url(re.compile(r"/signed-in$"))
    expect(page.locator("#who")).to_have_text(person.email)
    shoot(page, "4-signed-in")


def test_2_the_next_sign_in_asks_for_the_code_without_qr_or_key(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    person, secret = enrolled_and_back(page, stack, tmp_path)
    expect(page.locator("h1")).to_have_text("Enter your code")
    expect(page.locator("#account")).to_have_text(person.email)  # which entry in the app
    html = page.content()
    assert secret not in html
    assert secret[:4] + " " + secret[4:8] not in html
    assert "<svg" not in html
    assert "otpauth" not in html
    expect(page.locator("#qr")).to_have_count(0)
    expect(page.locator("#setup-key")).to_have_count(0)
    shoot(page, "5-code")
    type_code(page, stack.code(secret))
    expect(page.locator("h1")).to_have_text("You're signed in")


def test_3_wrong_then_expired_codes_explain_themselves_then_success(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    _, secret = enrolled_and_back(page, stack, tmp_path)
    mfa_url = page.url
    wrong = "000000" if stack.code(secret) != "000000" else "111111"
    type_code(page, wrong)
    expect(page.locator("#code-error")).to_contain_text("not right")
    expect(page.locator("#code-error")).to_contain_text("4 attempts left")
    expect(page.locator("#code")).to_be_focused()
    assert page.url == mfa_url
    shoot(page, "6-code-wrong")

    type_code(page, stack.code(secret, -90))
    expect(page.locator("#code-error")).to_contain_text("expired")
    expect(page.locator("#code-error")).to_contain_text("Wait for the next code")
    expect(page.locator("#code")).to_be_focused()
    assert page.url == mfa_url
    shoot(page, "7-code-expired")

    type_code(page, stack.code(secret))
    expect(page.locator("h1")).to_have_text("You're signed in")


def admin_console(browser: Browser, stack: Stack) -> Page:
    """A desktop browser signed in to the console with the admin API key."""
    context = browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK)
    admin = context.new_page()
    admin.goto("/admin")
    expect(admin).to_have_url(re.compile(r"/admin/signin$"))
    admin.fill("#api_key", ADMIN["Authorization"].removeprefix("Bearer "))
    admin.click("form[action='/admin/signin'] button[type=submit]")
    expect(admin).to_have_url(re.compile(r"/admin$"))
    return admin


def test_4_an_admin_resets_a_lost_authenticator_and_registration_starts_over(
    page: Page, browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    person = add_person(stack, "editor")
    old_secret = enroll(page, stack, person, tmp_path)
    sign_out(page)

    admin = admin_console(browser, stack)
    shoot(admin, "8-admin")
    admin.fill("#q", person.email)
    admin.click("form[action='/admin/users'] button[type=submit]")
    expect(admin.locator("#enrollment-state")).to_contain_text("set up on")
    shoot(admin, "9-admin-user")
    admin.click("#reset")
    expect(admin.locator("h1")).to_contain_text("Reset the authenticator")
    shoot(admin, "10-admin-reset-confirm")
    admin.click("#confirm-reset")
    expect(admin.locator(".notice")).to_contain_text("Authenticator reset")
    expect(admin.locator("#enrollment-state")).to_have_text("none")
    admin.goto("/admin")
    expect(admin.locator("#events")).to_contain_text("authenticator reset")
    admin.context.close()

    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Set up two-step verification")
    new_secret = secret_of(decode_rendered_qr(page, tmp_path))
    assert new_secret != old_secret
    type_code(page, stack.code(old_secret))
    expect(page.locator("#code-error")).to_contain_text("not right")
    confirm_enrollment(page, stack.code(new_secret))
    expect(page.locator("h1")).to_have_text("You're signed in")


def test_5_an_admin_drops_a_user_type_from_the_policy_and_it_signs_in_with_a_password(
    page: Page, browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    admin_person = add_person(stack, "admin")
    context = browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK)
    admin = context.new_page()
    # The policy covers editors only, yet whoever may open the console passes their own
    # authenticator first: this admin has none, so they set one up now.
    enroll(admin, stack, admin_person, tmp_path)
    admin.click("text=Open the admin console")
    editor_box = admin.locator("#policy-form input[name=user_types][value=editor]")
    expect(editor_box).to_be_checked()
    editor_box.uncheck()
    admin.click("#policy-form button[type=submit]")
    expect(admin.locator(".notice")).to_contain_text("Policy saved")
    expect(admin.locator("#policy-form input[name=user_types][value=editor]")).not_to_be_checked()
    expect(admin.locator("#events")).to_contain_text("policy changed")
    shoot(admin, "11-admin-policy-saved")
    context.close()

    editor = add_person(stack, "editor")
    sign_in(page, editor)
    expect(page).to_have_url(re.compile(r"/signed-in$"))
    expect(page.locator("#who")).to_have_text(editor.email)


def test_6_the_console_refuses_an_admin_who_has_not_confirmed_an_authenticator(
    browser: Browser, stack: Stack
) -> None:
    admin_person = add_person(stack, "admin")
    context = browser.new_context(base_url=stack.processes.gateway_url, viewport=DESK)
    admin = context.new_page()
    sign_in(admin, admin_person)
    expect(admin.locator("h1")).to_have_text("Set up two-step verification")
    admin.goto("/admin")  # the password alone does not open the console
    expect(admin).to_have_url(re.compile(r"/admin/signin$"))
    admin.goto("/signed-in")
    expect(admin).to_have_url(re.compile(r"/$"))  # nor does it sign anyone in
    context.close()
