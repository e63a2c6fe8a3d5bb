"""Issue 23, finding 6, in Chromium at 320 px: tables keep their column headers and
never make the page scroll sideways; recovery codes stand in one column, each on one
line, with "Copy" and "Download as text". Each test fails on the pages before the change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import decode_rendered_qr, shoot
from tests.browser.test_console_security import look_up, sign_in_with_the_admin_key
from tests.browser.test_journeys import sign_in, type_code
from tests.real_stack import Stack, add_person, secret_of

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 640}
SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def narrow(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.processes.gateway_url, viewport=NARROW)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    yield context.new_page()
    context.close()


def test_console_tables_keep_their_headers_and_scroll_inside_their_region(
    narrow: Page, stack: Stack
) -> None:
    person = add_person(stack, "editor")
    stack.enroll(person.user_id)
    sign_in_with_the_admin_key(narrow)
    for path, table, headers in (
        ("/admin", "#events", 4),
        ("/admin/coverage", "#counts", 10),
        ("/admin/coverage", "#users", 7),
    ):
        narrow.goto(path)
        found = narrow.locator(table).get_by_role("columnheader")
        expect(found).to_have_count(headers)  # in the accessibility tree, not display:none
        region = narrow.locator(table).locator("xpath=..")
        expect(region).to_have_attribute("role", "region")
        expect(region).to_have_attribute("tabindex", "0")  # the keyboard can scroll it
        assert narrow.evaluate(SIDEWAYS) == 0, path  # the page itself never scrolls sideways
    narrow.goto("/admin")
    look_up(narrow, person.email)  # a user's facts: a long e-mail and credential id wrap
    assert narrow.evaluate(SIDEWAYS) == 0


def test_recovery_codes_stand_in_one_column_and_can_be_copied_and_downloaded(
    narrow: Page, stack: Stack, tmp_path: Path
) -> None:
    sign_in(narrow, add_person(stack, "editor"))
    secret = secret_of(decode_rendered_qr(narrow, tmp_path))
    type_code(narrow, stack.code(secret))
    expect(narrow.locator("h1")).to_have_text("Save your recovery codes")
    codes = narrow.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    lefts = narrow.eval_on_selector_all(
        "#recovery-codes code", "cs => cs.map(c => Math.round(c.getBoundingClientRect().x))"
    )
    assert len(set(lefts)) == 1, lefts  # one column
    lines = narrow.eval_on_selector_all(
        "#recovery-codes code", "cs => cs.map(c => c.getClientRects().length)"
    )
    assert lines == [1] * 10  # never broken at the hyphen
    assert narrow.evaluate(SIDEWAYS) == 0

    narrow.click("#copy-codes")
    expect(narrow.locator("#codes-status")).to_have_text("Copied 10 codes.")
    copied = narrow.evaluate("navigator.clipboard.readText()")
    assert copied.splitlines()[1:] == codes

    with narrow.expect_download() as download:
        narrow.click("#download-codes")
    assert download.value.suggested_filename == "imageshop-recovery-codes.txt"
    assert Path(download.value.path()).read_text().splitlines()[1:] == codes
    expect(narrow.locator("#codes-status")).to_contain_text("Downloaded")


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate(SIDEWAYS) == 0, page.url


def test_the_enrollment_code_and_recovery_pages_at_320_px_never_scroll_sideways(
    narrow: Page, stack: Stack, tmp_path: Path
) -> None:
    """Screenshots for docs/screenshots/, each of a page that fits 320 px and passes axe."""
    person = add_person(stack, "editor")
    sign_in(narrow, person)
    no_sideways_scroll(narrow)
    shoot(narrow, "320-enroll")
    narrow.click("#manual summary")
    no_sideways_scroll(narrow)  # the setup key wraps
    secret = secret_of(decode_rendered_qr(narrow, tmp_path))
    type_code(narrow, stack.code(secret))
    no_sideways_scroll(narrow)
    shoot(narrow, "320-recovery-codes")
    codes = narrow.locator("#recovery-codes code").all_inner_texts()
    narrow.click("#continue")
    narrow.context.clear_cookies()
    stack.next_step()
    sign_in(narrow, person)
    type_code(narrow, stack.wrong_code(secret))
    no_sideways_scroll(narrow)
    shoot(narrow, "320-code-wrong")
    narrow.click("#use-recovery-code summary")
    narrow.fill("#recovery_code", "zzzzz-zzzzz")
    narrow.click("#recovery-form button[type=submit]")
    narrow.wait_for_load_state()
    no_sideways_scroll(narrow)
    shoot(narrow, "320-recovery-code-wrong")
    narrow.fill("#recovery_code", codes[0])
    narrow.click("#recovery-form button[type=submit]")
    expect(narrow.locator("h1")).to_have_text("You're signed in")
    no_sideways_scroll(narrow)
