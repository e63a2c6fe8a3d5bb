"""No input makes the gateway answer 5xx: the JSON API fuzzed from docs/openapi.json by
schemathesis (valid and invalid data), and the hosted pages' forms fuzzed by hypothesis.

Generated ids rarely name anything, so most cases of an operation on a login, a user or
a device are sent with real ones instead: a login that passed a code, one waiting for a
code, one showing a QR, their user, a live device token. The code, device and
recovery-code operations then do their real work under fuzzed bodies.

Bounded: a fixed number of examples per operation and form, derandomized, so the run
takes the same short time every time.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.localstack import ROOT
from tests.e2e.test_organizations import Organization, new_organization
from tests.real_stack import OPERATOR, Stack, new_user, secret_of

pytestmark = pytest.mark.e2e

API = schemathesis.openapi.from_path(ROOT / "docs/openapi.json")
API.config.generation.update(max_examples=15, deterministic=True)
BOUNDED = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzzed(stack: Stack) -> Organization:
    """An organization of its own, so fuzzed policies and resets touch nobody else."""
    return new_organization(stack)


@dataclass(frozen=True)
class RealIds:
    login_ids: tuple[str, ...]  # passed a code, waiting for one, showing a QR
    user_ids: tuple[str, ...]  # enrolled, never seen
    device_token: str


def enrolled(organization: Organization, user: str) -> str:
    """``user`` confirms an authenticator: the secret their app holds."""
    qr = organization.start_login(user)
    secret = secret_of(qr["enrollment"]["otpauth_uri"])
    code = {"code": organization.stack.code(secret)}
    confirmed = organization.client("POST", f"/v1/logins/{qr['login_id']}/code", json=code)
    assert confirmed.status_code == 200, confirmed.text
    return secret


def passed_a_code(organization: Organization, user: str, secret: str) -> str:
    stack = organization.stack
    stack.next_step()
    login = organization.start_login(user)
    assert login["status"] == "code_required", login
    code = {"code": stack.code(secret)}
    passed = organization.client("POST", f"/v1/logins/{login['login_id']}/code", json=code)
    assert passed.status_code == 200, passed.text
    return str(login["login_id"])


@pytest.fixture(scope="module")
def real(stack: Stack, fuzzed: Organization) -> RealIds:
    """The logins' user is not among the users the admin operations (resets) act on, so
    that the logins stay open for the code operations."""
    policy = {"user_types": ["editor"], "remember_device_days": 30}
    assert fuzzed.admin("PUT", "/v1/admin/policy", json=policy).status_code == 200
    signing_in, administered = new_user(), new_user()
    passed = passed_a_code(fuzzed, signing_in, enrolled(fuzzed, signing_in))
    device = fuzzed.client("POST", f"/v1/logins/{passed}/device")
    assert device.status_code == 201, device.text
    waiting = fuzzed.start_login(signing_in)["login_id"]
    showing_qr = fuzzed.start_login(new_user())["login_id"]
    enrolled(fuzzed, administered)
    return RealIds(
        (passed, waiting, showing_qr), (administered, new_user()), device.json()["device_token"]
    )


_turns = itertools.count()


def with_real_ids(case: Any, real: RealIds) -> None:
    """Three cases in four name a real login, user or device; the fourth keeps what
    schemathesis generated."""
    turn = next(_turns)
    if turn % 4 == 0:
        return
    parameters = case.path_parameters
    if "login_id" in parameters:
        parameters["login_id"] = real.login_ids[turn % len(real.login_ids)]
    if "user_id" in parameters:
        parameters["user_id"] = real.user_ids[turn % len(real.user_ids)]
    if isinstance(case.body, dict) and "device_token" in case.body:
        case.body["device_token"] = real.device_token


def bearer_for(path: str, organization: Organization) -> dict[str, str]:
    if path.startswith("/v1/operator") or path == "/metrics":
        return OPERATOR
    key = organization.admin_key if path.startswith("/v1/admin") else organization.client_key
    return {"Authorization": f"Bearer {key}"}


@API.parametrize()
def test_no_api_input_gets_a_server_error(
    case: Any, stack: Stack, fuzzed: Organization, real: RealIds
) -> None:
    with_real_ids(case, real)
    response = case.call(
        base_url=stack.processes.gateway_url,
        headers=bearer_for(case.path, fuzzed),
        timeout=30,
    )
    assert response.status_code < 500, (case.method, case.path, response.text[:500])


def csrf_token(client: httpx.Client, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert found is not None, page
    return found.group(1)


TEXT = st.text(max_size=300) | st.sampled_from(["", " ", "\x00", "é" * 200, "a/b?c#d", "1" * 6])
FORMS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "/signin": {"email": TEXT, "password": TEXT},
    "/admin/signin": {"api_key": TEXT},
    "/signout": {},
    "/mfa/{login}/code": {"code": TEXT},
    "/admin/policy": {"other_type": TEXT, "all_users": TEXT, "user_types": TEXT},
    "/admin/policy/users": {"user": TEXT, "action": TEXT},
    "/admin/users/{user}/reset": {},
    "/admin/users/{user}/reset/confirm": {},
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_no_form_input_gets_a_server_error(form: str, stack: Stack) -> None:
    fields = st.fixed_dictionaries({}, optional=FORMS[form])
    with httpx.Client(base_url=stack.processes.gateway_url, timeout=30) as browser:
        admin = {"api_key": "dev-admin-key", "csrf_token": csrf_token(browser, "/admin/signin")}
        browser.post("/admin/signin", data=admin)  # a console session: the deep paths too
        valid = csrf_token(browser, "/")

        @BOUNDED
        @given(
            data=fields,
            csrf=st.sampled_from([valid, "", "forged"]) | TEXT,
            segment=TEXT.filter(bool),
        )
        def post(data: dict[str, Any], csrf: str, segment: str) -> None:
            encoded = quote(segment, safe="")  # as a browser sends it
            path = form.replace("{login}", encoded).replace("{user}", encoded)
            response = browser.post(path, data={**data, "csrf_token": csrf})
            assert response.status_code < 500, (form, data, csrf, response.text[:300])
            if response.status_code == 303 and response.headers["location"] == "/":
                browser.post("/admin/signin", data=admin)  # signed out: back in

        post()
