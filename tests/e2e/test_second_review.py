"""The second security review's findings (issue 17), each through the real processes:
every test here failed on the code before its fix (docs/security.md, "Second review")."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from deploy.localstack import free_port
from deploy.processes import Child, port_open, wait_for
from tests.e2e.test_organizations import issue_key, new_organization
from tests.real_stack import (
    ADMIN,
    CLIENT,
    Person,
    Stack,
    add_person,
    launch,
    new_user,
    put_person,
    secret_of,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    redis_url: str, mongodb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """This module's own stack: a small address limit, so that reaching it is quick."""
    running = launch(
        redis_url,
        mongodb_url,
        tmp_path_factory.mktemp("review"),
        MFA_SIGNIN_LIMIT_PER_ADDRESS="5/15 minutes",
    )
    try:
        yield running
    finally:
        running.close()


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text[:300]
    return found.group(1)


def sign_in(
    browser: httpx.Client, email: str, password: str, address: str | None = None
) -> httpx.Response:
    """The hosted sign-in form, sent through the tests' proxy for ``address``."""
    forwarded = {"X-Forwarded-For": address} if address else {}
    form = {"email": email, "password": password, "csrf_token": csrf_of(browser.get("/"))}
    return browser.post("/signin", data=form, headers=forwarded)


def login_of(stack: Stack, user: str, **extra: Any) -> dict[str, Any]:
    body = {"user_id": user, "email": f"{user}@example.com", "user_type": "editor", **extra}
    created = stack.http.post("/v1/logins", headers=CLIENT, json=body)
    assert created.status_code == 201, created.text
    return stack.wait(created.json()["login_id"])


def until_confirmed(stack: Stack, user: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not stack.authenticator(user)["confirmed"]:
        assert time.monotonic() < deadline, "the authenticator was never confirmed"
        time.sleep(0.2)


# --- 1: recovery codes after a timeout; login ids in logs ------------------------------


def test_recovery_codes_after_a_timeout_reach_only_the_key_that_sent_the_code_once(
    stack: Stack,
) -> None:
    user = new_user()
    login = login_of(stack, user)
    login_id, secret = login["login_id"], secret_of(login["enrollment"]["otpauth_uri"])
    verification = stack.processes.children["verification"]
    os.kill(verification.pid, signal.SIGSTOP)  # slow: the answer comes after the wait
    try:
        late = stack.submit(login_id, stack.code(secret))
    finally:
        os.kill(verification.pid, signal.SIGCONT)
    assert late.status_code == 504, late.text
    until_confirmed(stack, user)

    with httpx.Client(base_url=stack.processes.gateway_url, timeout=30) as stranger:
        page = stranger.get(f"/mfa/{login_id}")  # a cookie-less browser holding the id
    assert "recovery codes" not in page.text.lower()
    another_key = {"Authorization": f"Bearer {issue_key(stack, 'default', 'client')['key']}"}
    seen = stack.http.get(f"/v1/logins/{login_id}", headers=another_key)  # same organization
    assert (seen.status_code, seen.json()["recovery_codes"]) == (200, None)

    first = stack.http.get(f"/v1/logins/{login_id}", headers=CLIENT).json()
    assert first["status"] == "authenticated"
    assert len(first["recovery_codes"]) == 10
    again = stack.http.get(f"/v1/logins/{login_id}", headers=CLIENT).json()
    assert again["recovery_codes"] is None  # once

    used = login_of(stack, user)
    worked = stack.http.post(
        f"/v1/logins/{used['login_id']}/code",
        json={"recovery_code": first["recovery_codes"][0]},
        headers=CLIENT,
    )
    assert worked.status_code == 200, worked.text

    time.sleep(0.5)  # the services' last lines reach their logs
    logs = stack.logs()
    assert "login_ref" in logs  # lines about logins still name one, by a keyed hash
    for seen in (login_id, used["login_id"]):
        assert seen not in logs


# --- 2: look-alike spellings of one account ---------------------------------------------


def test_the_per_account_sign_in_limit_holds_for_every_spelling_of_the_address(
    stack: Stack,
) -> None:
    person = add_person(stack, "viewer")
    addresses = (f"198.51.100.{n}" for n in range(1, 100))  # the address limit stays out of it
    with httpx.Client(base_url=stack.processes.gateway_url, timeout=30) as browser:
        for _ in range(10):
            wrong = sign_in(browser, person.email, "wrong", next(addresses))
            assert wrong.status_code == 400
        assert sign_in(browser, person.email, "wrong", next(addresses)).status_code == 429
        assert person.email.startswith("v")  # "viewer-...": a full-width v below
        look_alike = "\uff56" + person.email[1:]
        for password in ("wrong", person.password):
            refused = sign_in(browser, look_alike, password, next(addresses))
            assert refused.status_code == 429, (password, refused.status_code)


# --- 3: proxies ---------------------------------------------------------------------------


@pytest.fixture
def untrusting_gateway(stack: Stack) -> Iterator[str]:
    """A second gateway replica on the stack, as configured by default: no proxy trusted,
    and a small address limit so that the test stays short."""
    port = free_port()
    child: Child = stack.processes.start_service(
        "gateway",
        replica=7,
        MFA_PORT=str(port),
        MFA_TRUSTED_PROXIES="",
        MFA_SIGNIN_LIMIT_PER_ADDRESS="3/15 minutes",
    )
    wait_for(lambda: port_open(port), 30, "the second gateway", [child])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stop()
        stack.processes.children.pop(child.name, None)


def test_by_default_no_forwarded_header_is_believed(untrusting_gateway: str) -> None:
    with httpx.Client(base_url=untrusting_gateway, timeout=30) as browser:
        for n in range(3):  # each from a "different" address, says the forged header
            made_up = f"nobody-{uuid.uuid4().hex[:6]}@imageshop.example"
            assert sign_in(browser, made_up, "x", f"203.0.113.{n}").status_code == 400
        blocked = sign_in(browser, "anyone@imageshop.example", "x", "203.0.113.99")
        assert blocked.status_code == 429  # all of them came from this one peer
        tls = browser.get("/", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in tls.headers


def test_behind_a_trusted_proxy_failures_count_per_real_client_address(
    stack: Stack, trusting_limits: None
) -> None:
    """60 failures (here 5, the stack's limit) from one client do not lock out another
    user behind the same proxy; HSTS follows the original scheme."""
    person = add_person(stack, "viewer")
    with httpx.Client(base_url=stack.processes.gateway_url, timeout=30) as browser:
        for _ in range(5):
            made_up = f"nobody-{uuid.uuid4().hex[:6]}@imageshop.example"
            assert sign_in(browser, made_up, "x", "203.0.113.7").status_code == 400
        assert sign_in(browser, person.email, person.password, "203.0.113.7").status_code == 429
    with httpx.Client(base_url=stack.processes.gateway_url, timeout=30) as browser:
        signed_in = sign_in(browser, person.email, person.password, "198.51.100.200")
        assert signed_in.status_code == 303
        tls = browser.get("/", headers={"X-Forwarded-Proto": "https"})
        assert tls.headers["strict-transport-security"].startswith("max-age=")


@pytest.fixture
def trusting_limits(stack: Stack) -> None:
    assert stack.processes.env["MFA_TRUSTED_PROXIES"] == "127.0.0.1/32"
    assert stack.processes.env["MFA_SIGNIN_LIMIT_PER_ADDRESS"] == "5/15 minutes"


# --- found by the review of the fixes ---------------------------------------------------


def test_a_burst_of_concurrent_failed_sign_ins_cannot_outrun_the_address_limit(
    stack: Stack, trusting_limits: None
) -> None:
    """The address counts a try before the password is hashed (~0.2 s), not after: 20
    tries sent at once get at most the limit's 5 answers, all the others 429."""
    browsers = [httpx.Client(base_url=stack.processes.gateway_url, timeout=30) for _ in range(20)]
    try:
        forms = [
            {
                "email": f"nobody-{uuid.uuid4().hex[:6]}@imageshop.example",
                "password": "x",
                "csrf_token": csrf_of(b.get("/")),
            }
            for b in browsers
        ]
        address = {"X-Forwarded-For": "203.0.113.50"}
        with ThreadPoolExecutor(len(browsers)) as pool:
            answers = list(
                pool.map(lambda b, f: b.post("/signin", data=f, headers=address), browsers, forms)
            )
    finally:
        for browser in browsers:
            browser.close()
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(400) <= 5, statuses
    assert set(statuses) <= {400, 429}, statuses


def test_only_the_key_that_passed_the_code_may_renew_codes_or_remember_the_device(
    stack: Stack,
) -> None:
    organization = new_organization(stack)
    other_key = {
        "Authorization": f"Bearer {issue_key(stack, organization.organization_id, 'client')['key']}"
    }
    policy = {"user_types": ["editor"], "remember_device_days": 7}
    assert organization.admin("PUT", "/v1/admin/policy", json=policy).status_code == 200
    user = new_user()
    qr = organization.start_login(user)
    secret = secret_of(qr["enrollment"]["otpauth_uri"])
    confirm = {"code": stack.code(secret)}
    confirmed = organization.client("POST", f"/v1/logins/{qr['login_id']}/code", json=confirm)
    assert confirmed.status_code == 200, confirmed.text
    for action in ("recovery-codes", "device"):
        refused = stack.http.post(f"/v1/logins/{qr['login_id']}/{action}", headers=other_key)
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "code_not_passed")
    own = organization.client("POST", f"/v1/logins/{qr['login_id']}/device")
    assert own.status_code == 201, own.text


# --- 5: a second login showing the same QR ----------------------------------------------


def test_confirming_twice_neither_issues_nor_replaces_recovery_codes(stack: Stack) -> None:
    user = new_user()
    first, second = login_of(stack, user), login_of(stack, user)
    uri = first["enrollment"]["otpauth_uri"]
    assert second["enrollment"]["otpauth_uri"] == uri  # the same pending QR
    secret = secret_of(uri)
    confirmed = stack.submit(first["login_id"], stack.code(secret))
    assert confirmed.status_code == 200, confirmed.text
    saved = confirmed.json()["recovery_codes"]

    other = stack.wait(second["login_id"])
    assert (other["status"], other["enrollment"]) == ("code_required", None)
    stack.next_step()
    passed = stack.submit(second["login_id"], stack.code(secret))
    assert passed.status_code == 200, passed.text
    assert passed.json()["recovery_codes"] is None
    later = login_of(stack, user)
    still = stack.http.post(
        f"/v1/logins/{later['login_id']}/code", json={"recovery_code": saved[0]}, headers=CLIENT
    )
    assert still.status_code == 200, still.text


# --- 6: a console administrator with a long e-mail ----------------------------------------


def console_session(stack: Stack, person: Person) -> httpx.Client:
    """A browser signed in to the console as ``person`` (an admin type): password, then
    the QR step, typed on the hosted page."""
    browser = httpx.Client(base_url=stack.processes.gateway_url, timeout=30)
    started = sign_in(browser, person.email, person.password)
    assert started.status_code == 303, started.text
    login_id = started.headers["location"].rsplit("/", 1)[-1]
    login = stack.wait(login_id)
    secret = secret_of(login["enrollment"]["otpauth_uri"])
    step = browser.get(f"/mfa/{login_id}")
    form = {"code": stack.code(secret), "csrf_token": csrf_of(step)}
    assert browser.post(f"/mfa/{login_id}/code", data=form).status_code == 200
    assert browser.get("/admin").status_code == 200
    return browser


def test_console_changes_work_for_an_administrator_with_a_long_e_mail(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"admin-{tag}@{'d' * 60}.{'e' * 60}.imageshop.example"
    assert len(f"user:{email}") > 128
    person = Person(f"admin-{tag}", email, "admin", f"pw-{uuid.uuid4().hex}")
    put_person(stack, person)
    target = new_user()
    browser = console_session(stack, person)
    try:
        csrf = csrf_of(browser.get("/admin"))
        added = browser.post(
            "/admin/policy/users", data={"user": target, "action": "add", "csrf_token": csrf}
        )
        assert added.status_code == 303, added.text[:300]
        reset = browser.post(f"/admin/users/{target}/reset/confirm", data={"csrf_token": csrf})
        assert reset.status_code == 303, reset.text[:300]
    finally:
        browser.close()
    policy = stack.http.get("/v1/admin/policy", headers=ADMIN).json()
    assert target in policy["users"]


# --- 7: the CSV exports -------------------------------------------------------------------


def test_the_csv_exports_are_never_cached(stack: Stack) -> None:
    exported = stack.http.get("/v1/admin/users.csv", headers=ADMIN)
    assert exported.status_code == 200
    assert exported.headers["cache-control"] == "no-store"
    with httpx.Client(base_url=stack.processes.gateway_url, timeout=30) as browser:
        form = {"api_key": "dev-admin-key", "csrf_token": csrf_of(browser.get("/admin/signin"))}
        assert browser.post("/admin/signin", data=form).status_code == 303
        console = browser.get("/admin/coverage.csv")
        assert console.status_code == 200
        assert console.headers["cache-control"] == "no-store"


# --- 4: remembered devices under today's policy (last: it moves the clock) -------------


def test_a_remembered_device_passes_only_while_the_current_policy_allows_it(
    stack: Stack,
) -> None:
    stack.set_policy(user_types=["editor"], remember_device_days=30)
    user = new_user()
    login = login_of(stack, user)
    secret = secret_of(login["enrollment"]["otpauth_uri"])
    assert stack.submit(login["login_id"], stack.code(secret)).status_code == 200
    stack.next_step()
    passed = login_of(stack, user)
    assert stack.submit(passed["login_id"], stack.code(secret)).status_code == 200
    issued = stack.http.post(f"/v1/logins/{passed['login_id']}/device", headers=CLIENT)
    token = issued.json()["device_token"]
    assert login_of(stack, user, device_token=token)["status"] == "authenticated"

    stack.advance(2 * 86_400)
    stack.set_policy(user_types=["editor"], remember_device_days=1)  # shortened
    assert login_of(stack, user, device_token=token)["status"] == "code_required"
    stack.set_policy(user_types=["editor"], remember_device_days=30)
    assert login_of(stack, user, device_token=token)["status"] == "authenticated"
    stack.set_policy(user_types=["editor"], remember_device_days=0)  # "never": forgotten
    assert login_of(stack, user, device_token=token)["status"] == "code_required"
    stack.set_policy(user_types=["editor"], remember_device_days=30)
    assert login_of(stack, user, device_token=token)["status"] == "code_required"
