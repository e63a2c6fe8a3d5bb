"""The console's "Import authenticators" page in Chromium: a dry run's table, then the
same file applied; the imported user then signs in with no QR (issue 21)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import shoot
from tests.browser.test_console_security import console, sign_in_with_the_admin_key
from tests.browser.test_journeys import confirm_enrollment, sign_in
from tests.e2e.test_imports import new_secret
from tests.real_stack import ADMIN, Stack, add_person

pytestmark = pytest.mark.browser
__all__ = ["console"]  # the fixture, shared


def test_an_administrator_sees_the_dry_run_then_imports_the_file_and_the_user_signs_in(
    console: Page, stack: Stack, tmp_path: Path
) -> None:
    user, other = f"imp-{uuid.uuid4().hex[:8]}", f"imp-{uuid.uuid4().hex[:8]}"
    secret = new_secret()
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(
        "user_id,email,otpauth_uri\n"
        f"{user},{user}@corp.example,otpauth://totp/Corp:{user}?secret={secret}\n"
        f"{other},{other}@corp.example,otpauth://totp/Corp:{other}?secret=TOO-SHORT\n"
    )
    sign_in_with_the_admin_key(console)
    console.click("#imports-link")
    console.set_input_files("#file", str(tokens))
    console.click("#dry-run")
    expect(console.locator("#report-title")).to_contain_text("Dry run")
    expect(console.locator("#rows tr[data-outcome=import]")).to_contain_text(user)
    expect(console.locator("#rows tr[data-outcome=bad_secret]")).to_contain_text(other)
    assert secret not in console.content()
    shoot(console, "25-import-dry-run")
    assert stack.authenticator(user)["enrolled"] is False  # a dry run imports nothing

    console.set_input_files("#apply-file", str(tokens))
    console.click("#apply")
    expect(console.locator("#report-title")).to_have_text("Imported")
    expect(console.locator("#imported-note")).to_be_visible()
    assert secret not in console.content()

    login = stack.start_login(user, f"{user}@corp.example", "editor")
    assert (login["status"], login["enrollment"]) == ("code_required", None)
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200
    console.goto("/admin")
    expect(console.locator("#events .kind-authenticators_imported").first).to_be_visible()


def test_an_unreadable_file_or_form_is_the_page_again_with_what_to_change(
    console: Page, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("only,two\n")
    sign_in_with_the_admin_key(console)
    console.goto("/admin/imports")
    console.set_input_files("#file", str(broken))
    console.click("#dry-run")
    expect(console.locator("#import-error")).to_contain_text("row 1")
    expect(console.locator("#import-form")).to_be_visible()  # a page, never JSON

    pskc = tmp_path / "tokens.pskc"
    pskc.write_text("<KeyContainer/>")
    console.select_option("#format", "pskc")
    console.set_input_files("#file", str(pskc))
    console.fill("#key", "not-hex")
    console.click("#dry-run")
    expect(console.locator("#import-error")).to_contain_text("not hex")
    expect(console.locator("#format")).to_have_value("pskc")  # the choices are kept
    console.set_viewport_size({"width": 320, "height": 700})
    assert console.evaluate("document.documentElement.scrollWidth") <= 320  # no sideways


def test_an_app_imported_to_confirm_at_first_use_asks_for_its_code_then_shows_recovery_codes(
    page: Page, stack: Stack
) -> None:
    person = add_person(stack, "editor")
    secret = new_secret()
    line = f"{person.user_id},{person.email},otpauth://totp/Corp:x?secret={secret}\n"
    files = {"file": ("tokens.csv", line.encode(), "text/csv")}
    params = {"confirm": "first_use"}
    dry = stack.http.post("/v1/admin/imports", params=params, files=files, headers=ADMIN)
    applied = stack.http.post(
        "/v1/admin/imports",
        params={**params, "apply": "true", "plan": dry.json()["plan"]},
        files=files,
        headers=ADMIN,
    )
    assert applied.status_code == 200, applied.text
    sign_in(page, person)
    expect(page.locator("#code")).to_be_visible()  # no QR: the app has the secret
    expect(page.locator("#qr")).to_have_count(0)
    # No recovery codes exist before the first code: none is offered.
    expect(page.locator("#use-recovery-code")).to_have_count(0)
    assert len(confirm_enrollment(page, stack.code(secret))) == 10
