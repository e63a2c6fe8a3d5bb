"""Issue 11 in a real browser: recovery codes, a remembered browser, and the console's
coverage list, drift and unlock."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import decode_rendered_qr, shoot
from tests.browser.test_journeys import (
    admin_console,
    confirm_enrollment,
    enroll,
    sign_in,
    sign_out,
    type_code,
)
from tests.real_stack import Person, Stack, add_person, secret_of

pytestmark = [pytest.mark.browser, pytest.mark.own_stack]  # moves the clock or stops a service


def use_recovery_code(page: Page, code: str) -> None:
    if page.locator("#use-recovery-code").get_attribute("open") is None:  # after an error: open
        page.click("#use-recovery-code summary")
    page.fill("#recovery_code", code)
    page.click("#recovery-form button[type=submit]")
    page.wait_for_load_state()


def test_a_recovery_code_signs_in_once_and_only_once(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    person = add_person(stack, "editor")
    sign_in(page, person)
    codes = confirm_enrollment(page, stack.code(secret_of(decode_rendered_qr(page, tmp_path))))
    sign_out(page)

    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Enter your code")
    shoot(page, "12-code-with-recovery")
    use_recovery_code(page, codes[0])
    expect(page.locator("h1")).to_have_text("You're signed in")
    sign_out(page)

    sign_in(page, person)
    use_recovery_code(page, codes[0])
    expect(page.locator("#recovery-error")).to_contain_text("not right")  # beside its field
    expect(page.locator("#recovery-error")).to_contain_text("4 attempts left")
    use_recovery_code(page, codes[1])
    expect(page.locator("h1")).to_have_text("You're signed in")


def enroll_remembering(page: Page, stack: Stack, person: Person, workdir: Path) -> None:
    sign_in(page, person)
    expect(page.locator("label:has(#remember)")).to_contain_text("for 7 days")
    page.check("#remember")
    confirm_enrollment(page, stack.code(secret_of(decode_rendered_qr(page, workdir))))
    expect(page.locator("h1")).to_have_text("You're signed in")


def test_a_remembered_browser_skips_the_code_until_a_reset_or_expiry(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    stack.set_policy(user_types=["editor"], remember_device_days=7)
    person = add_person(stack, "editor")
    enroll_remembering(page, stack, person, tmp_path)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "mfa_device"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    sign_out(page)

    stack.next_step()
    sign_in(page, person)  # no code asked
    expect(page).to_have_url(re.compile(r"/signed-in$"))
    expect(page.locator("#forget-browser")).to_be_visible()
    sign_out(page)

    assert stack.reset(person.user_id).status_code == 200
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Set up two-step verification")
    page.check("#remember")
    secret = secret_of(decode_rendered_qr(page, tmp_path))
    confirm_enrollment(page, stack.code(secret))
    sign_out(page)

    stack.advance(8 * 86_400)  # past the 7 days
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Enter your code")
    type_code(page, stack.code(secret))
    expect(page.locator("h1")).to_have_text("You're signed in")


def test_a_remembered_browser_never_opens_the_console_without_a_code(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    stack.set_policy(user_types=["editor"], remember_device_days=7)
    admin = add_person(stack, "admin")
    enroll_remembering(page, stack, admin, tmp_path)
    assert [c for c in page.context.cookies() if c["name"] == "mfa_device"]
    sign_out(page)
    stack.next_step()
    sign_in(page, admin)
    expect(page.locator("h1")).to_have_text("Enter your code")  # the cookie is not used


def test_forget_this_browser_asks_for_the_code_again(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    stack.set_policy(user_types=["editor"], remember_device_days=7)
    person = add_person(stack, "editor")
    enroll_remembering(page, stack, person, tmp_path)
    page.click("#forget-browser")
    expect(page.locator(".notice")).to_contain_text("forgotten")
    assert not [c for c in page.context.cookies() if c["name"] == "mfa_device"]
    sign_out(page)
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Enter your code")


def test_the_console_lists_users_with_their_state_exports_csv_and_unlocks(
    page: Page, browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    person = add_person(stack, "editor")
    secret = enroll(page, stack, person, tmp_path)
    sign_out(page)
    stack.next_step()
    sign_in(page, person)
    type_code(page, stack.code(secret, 30))  # the phone runs a step ahead
    sign_out(page)
    sign_in(page, person)
    for _ in range(5):
        type_code(page, stack.wrong_code(secret))
    expect(page.locator("#code-error")).to_contain_text("Too many failed attempts")

    admin = admin_console(browser, stack)
    admin.click("#coverage-link")
    admin.fill("#coverage-q", person.user_id)
    admin.click("form[action='/admin/coverage'] button[type=submit]")
    row = admin.locator(f"#users tr[data-user='{person.user_id}']")
    expect(row.locator(".enrollment")).to_have_text("locked")
    expect(row.locator(".required")).to_have_text("required")
    expect(admin.locator("#counts")).to_contain_text("editor")
    shoot(admin, "13-admin-coverage")
    with admin.expect_download() as download:
        admin.click("#csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["user_id"], r["email"], r["enrollment"]) for r in rows] == [
        (person.user_id, person.email, "locked")
    ]

    row.locator("a").click()
    expect(admin.locator("#drift")).to_contain_text("+1 step (+30 s)")
    expect(admin.locator("#recovery-codes-left")).to_have_text("10")
    admin.click("#unlock")
    expect(admin.locator(".notice")).to_contain_text("unlocked")
    expect(admin.locator("#lock-state")).to_have_text("no")
    admin.goto("/admin")
    expect(admin.locator("#events")).to_contain_text("authenticator unlocked")
    admin.context.close()

    stack.next_step()
    stack.next_step()  # past the step the fast phone's code used
    page.reload()  # the page showed the lock with its field closed; now it is open again
    type_code(page, stack.code(secret))
    expect(page.locator("h1")).to_have_text("You're signed in")


def test_new_recovery_codes_from_the_signed_in_page_retire_the_old_set(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    person = add_person(stack, "editor")
    sign_in(page, person)
    old = confirm_enrollment(page, stack.code(secret_of(decode_rendered_qr(page, tmp_path))))
    page.click("#new-recovery-codes")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    new = page.locator("#recovery-codes li").all_inner_texts()
    assert len(new) == 10
    assert not set(new) & set(old)
    page.click("#continue")
    sign_out(page)
    sign_in(page, person)
    use_recovery_code(page, old[0])
    expect(page.locator("#recovery-error")).to_contain_text("not right")
    use_recovery_code(page, new[0])
    expect(page.locator("h1")).to_have_text("You're signed in")
