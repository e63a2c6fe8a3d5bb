"""Passkeys in real Chromium, with a virtual authenticator (the DevTools protocol's
WebAuthn domain): the hosted pages' ceremonies, and each rule that refuses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, CDPSession, Page, expect

from tests.browser.conftest import PHONE, decode_rendered_qr, shoot
from tests.browser.test_journeys import (
    admin_console,
    confirm_enrollment,
    sign_in,
    sign_out,
    type_code,
)
from tests.e2e.test_self_service import notices_of
from tests.real_stack import ADMIN, Person, Stack, add_person, secret_of

pytestmark = pytest.mark.browser


@dataclass
class Device:
    """A passkey authenticator built into the browser's device (platform, with user
    verification), as Chromium simulates it."""

    cdp: CDPSession
    authenticator_id: str

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id})
        return list(found["credentials"])

    def clone_with_counter(self, sign_count: int) -> None:
        """Put back the same passkey with an older counter: what a copy of it would do."""
        (credential,) = self.credentials()
        self.cdp.send(
            "WebAuthn.removeCredential",
            {"authenticatorId": self.authenticator_id, "credentialId": credential["credentialId"]},
        )
        self.cdp.send(
            "WebAuthn.addCredential",
            {
                "authenticatorId": self.authenticator_id,
                "credential": {**credential, "signCount": sign_count},
            },
        )


def origin(stack: Stack) -> str:
    """The gateway by name: an RP ID is a domain, never an IP address."""
    return stack.processes.gateway_url.replace("127.0.0.1", "localhost")


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(base_url=origin(stack), viewport=PHONE)  # type: ignore[arg-type]
    yield context.new_page()
    context.close()


@pytest.fixture
def device(page: Page) -> Device:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return Device(cdp, added["authenticatorId"])


def passkey_policy(stack: Stack, origins: list[str] | None = None, **rules: Any) -> None:
    party = {"id": "localhost", "origins": origins or [origin(stack)]}
    stack.set_policy(user_types=["editor"], relying_party=party, **rules)


@pytest.fixture(autouse=True)
def _passkeys_here(stack: Stack, _policy_for_editors: None) -> None:
    passkey_policy(stack)


def register(page: Page, person: Person, shots: bool = False) -> None:
    """The first sign-in: choose a passkey, create it, save the recovery codes."""
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Set up two-step verification")
    if shots:
        shoot(page, "20-choose-passkey-or-app")
    page.click("#choose-passkey")
    expect(page.locator("h1")).to_have_text("Create a passkey")
    if shots:
        shoot(page, "21-create-a-passkey")
    page.click("#passkey-start")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("You're signed in")


def use_passkey(page: Page) -> None:
    expect(page.locator("h1")).to_have_text("Verify it's you")
    page.click("#passkey-start")
    page.wait_for_load_state()


def test_a_passkey_registered_at_the_first_sign_in_signs_in_later_with_no_code(
    page: Page, stack: Stack, device: Device
) -> None:
    person = add_person(stack, "editor")
    register(page, person, shots=True)
    assert len(device.credentials()) == 1
    sign_out(page)
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Verify it's you")
    expect(page.locator("#code")).to_have_count(0)  # no code is asked for
    shoot(page, "22-sign-in-with-a-passkey")
    use_passkey(page)
    expect(page.locator("h1")).to_have_text("You're signed in")


def test_a_user_who_needs_a_passkey_is_never_shown_a_qr(
    page: Page, stack: Stack, device: Device
) -> None:
    person = add_person(stack, "editor")
    passkey_policy(stack, require_passkey_users=[person.user_id])
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Create a passkey")
    expect(page.locator("#qr")).to_have_count(0)
    expect(page.locator("#use-app-instead")).to_have_count(0)
    assert "otpauth" not in page.content()
    page.goto(page.url + "?use=app")  # asking for the app anyway changes nothing
    expect(page.locator("#qr")).to_have_count(0)
    page.click("#passkey-start")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")


def test_an_assertion_for_another_origin_is_refused(
    page: Page, stack: Stack, device: Device
) -> None:
    person = add_person(stack, "editor")
    register(page, person)
    sign_out(page)
    passkey_policy(stack, origins=["https://elsewhere.localhost"])  # not where it is signed
    sign_in(page, person)
    use_passkey(page)
    expect(page.locator("#passkey-error")).to_contain_text("did not sign in")
    expect(page.locator("#passkey-error")).to_contain_text("4 attempts left")


def test_an_rp_id_the_page_does_not_belong_to_is_refused_by_the_browser(
    page: Page, stack: Stack, device: Device
) -> None:
    person = add_person(stack, "editor")
    stack.set_policy(
        user_types=["editor"], relying_party={"id": "example.com", "origins": [origin(stack)]}
    )
    sign_in(page, person)
    page.click("#choose-passkey")
    page.click("#passkey-start")
    expect(page.locator("#passkey-error")).to_contain_text("do not work at this address")
    assert device.credentials() == []


def test_a_replayed_assertion_is_refused(page: Page, stack: Stack, device: Device) -> None:
    person = add_person(stack, "editor")
    register(page, person)
    sign_out(page)
    sent: list[str] = []
    page.on(
        "request",
        lambda r: sent.append(r.post_data or "") if r.url.endswith("/passkey") else None,
    )
    sign_in(page, person)
    use_passkey(page)
    expect(page.locator("h1")).to_have_text("You're signed in")
    sign_out(page)
    sign_in(page, person)
    answer = re.search(r"credential=([^&]+)", sent[0])
    assert answer is not None
    page.evaluate(  # the old answer, sent again through the same form
        """(value) => {
            document.getElementById("passkey-credential").value = decodeURIComponent(value);
            document.getElementById("passkey-form").submit();
        }""",
        answer.group(1).replace("+", "%20"),
    )
    page.wait_for_load_state()
    expect(page.locator("#passkey-error")).to_contain_text("did not sign in")


def test_a_counter_that_goes_backwards_is_refused_and_a_notice_is_published(
    page: Page, stack: Stack, device: Device
) -> None:
    person = add_person(stack, "editor")
    register(page, person)
    sign_out(page)
    sign_in(page, person)
    use_passkey(page)
    expect(page.locator("h1")).to_have_text("You're signed in")
    assert device.credentials()[0]["signCount"] >= 1
    sign_out(page)
    device.clone_with_counter(0)
    sign_in(page, person)
    use_passkey(page)
    expect(page.locator("#passkey-error")).to_contain_text("may have been copied")
    kinds = [n["kind"] for n in notices_of(stack, person.user_id, 2)]
    assert "passkey_possibly_cloned" in kinds


def test_five_refused_assertions_lock_the_user_and_a_right_one_is_refused(
    page: Page, stack: Stack, device: Device
) -> None:
    person = add_person(stack, "editor")
    register(page, person)
    sign_out(page)
    passkey_policy(stack, origins=["https://elsewhere.localhost"])
    sign_in(page, person)
    for _ in range(5):
        page.click("#passkey-start")
        page.wait_for_load_state()
    expect(page.locator("#passkey-error")).to_contain_text("Too many failed attempts")
    expect(page.locator("#passkey-start")).to_be_disabled()
    passkey_policy(stack)  # the right origin again: the lock still holds, shown at once
    sign_in(page, person)
    expect(page.locator("#passkey-error")).to_contain_text("Too many failed attempts")
    expect(page.locator("#passkey-error")).to_have_attribute("data-reload-at", re.compile(r"\d"))
    expect(page.locator("#passkey-start")).to_be_disabled()
    expect(page.locator("h1")).not_to_have_text("You're signed in")


def test_a_reset_removes_the_passkeys_and_the_next_sign_in_registers_again(
    page: Page, stack: Stack, device: Device
) -> None:
    person = add_person(stack, "editor")
    register(page, person)
    (old,) = device.credentials()
    sign_out(page)
    assert stack.reset(person.user_id).status_code == 200
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Set up two-step verification")
    page.click("#choose-passkey")
    page.click("#passkey-start")  # the old passkey is no longer excluded: a new one
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    # The device keeps one passkey per account (the user handle is the same): a new one.
    (new,) = device.credentials()
    assert new["credentialId"] != old["credentialId"]


def test_a_user_with_an_app_and_a_passkey_can_use_either(
    page: Page, stack: Stack, device: Device, tmp_path: Path
) -> None:
    person = add_person(stack, "editor")
    sign_in(page, person)
    page.click("#choose-app")
    secret = secret_of(decode_rendered_qr(page, tmp_path))
    confirm_enrollment(page, stack.code(secret))
    expect(page.locator("h1")).to_have_text("You're signed in")
    page.click("#add-passkey")
    expect(page.locator("h1")).to_have_text("Add a passkey")
    page.click("#passkey-start")
    expect(page.locator(".notice")).to_contain_text("Passkey added")
    expect(page.locator("#passkey-list li")).to_have_count(1)
    shoot(page, "23-signed-in-with-passkeys")
    sign_out(page)

    stack.next_step()
    sign_in(page, person)
    expect(page.locator("h1")).to_have_text("Verify it's you")
    type_code(page, stack.code(secret))  # the app's code, beside the passkey
    expect(page.locator("h1")).to_have_text("You're signed in")
    sign_out(page)
    sign_in(page, person)
    use_passkey(page)
    expect(page.locator("h1")).to_have_text("You're signed in")
    expect(page.locator("#passkey-list li")).to_contain_text("last used")


def test_a_signed_in_user_removes_a_passkey_but_never_the_last(
    page: Page, stack: Stack, device: Device
) -> None:
    person = add_person(stack, "editor")
    register(page, person)
    page.click("#passkey-list button")  # the only one
    expect(page.locator("[role=alert]")).to_contain_text("last authenticator")
    expect(page.locator("#passkey-list li")).to_have_count(1)


def test_saving_the_console_form_keeps_the_passkey_settings_it_shows_and_those_it_does_not(
    browser: Browser, stack: Stack
) -> None:
    """Review finding 3: a type that only the passkey rule names, and the relying party's
    name (not on the form), were dropped by saving the form unchanged."""
    party = {"id": "localhost", "name": "Acme Sign-in", "origins": [origin(stack)]}
    codes = {"algorithm": "SHA256", "digits": 8, "period": 60}
    stack.set_policy(
        user_types=["editor"],
        relying_party=party,
        require_passkey_user_types=["auditor"],
        totp=codes,
    )
    admin = admin_console(browser, stack)
    try:
        expect(admin.locator("#rp_id")).to_have_value("localhost")
        shoot(admin, "24-admin-passkey-policy")
        admin.click("#policy-form button[type=submit]")
        expect(admin.locator(".notice")).to_contain_text("Policy saved")
    finally:
        admin.context.close()
    saved = stack.http.get("/v1/admin/policy", headers=ADMIN).json()
    assert saved["require_passkey_user_types"] == ["auditor"]
    assert saved["relying_party"] == party
    assert saved["totp"] == codes
