"""Headless Chromium (Debian's) driven by Playwright through the real stack."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from deploy.localstack import ROOT
from tests.browser.accessibility import audit
from tests.real_stack import Stack

SCREENSHOTS = ROOT / "docs/screenshots"
CHROMIUM = os.environ.get("MFA_TEST_CHROMIUM", "/usr/bin/chromium")
# Chromium's background services would try the closed network at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1100, "height": 900}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a browser test passes, every page it left open passes axe as well (the
    journeys' helpers audit the states on the way: tests/browser/accessibility.py)."""
    result = yield
    browser = getattr(item, "funcargs", {}).get("browser")
    if isinstance(browser, Browser):
        for context in browser.contexts:
            for page in context.pages:
                audit(page)
    return result


@pytest.fixture(autouse=True)
def _policy_for_editors(stack: Stack) -> None:
    stack.set_policy(user_types=["editor"])


@pytest.fixture(scope="module")  # Playwright's sync API keeps a loop running while open
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.processes.gateway_url, viewport=PHONE)
    yield context.new_page()
    context.close()


def shoot(page: Page, name: str) -> None:
    """A screenshot for the docs, of a state that passes axe."""
    audit(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def decode_rendered_qr(page: Page, workdir: Path) -> str:
    """Photograph the QR code as the page shows it and read it like a phone (zbar)."""
    image = workdir / "qr-on-page.png"
    page.locator("#qr svg").screenshot(path=str(image))
    scan = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(image)], capture_output=True, text=True, check=True
    )
    return scan.stdout.strip()
