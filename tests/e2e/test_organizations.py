"""Organizations are the trust boundary: users, keys, policies and resets of one are
invisible to every other, through the real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from deploy.localstack import ROOT, free_port
from tests.e2e.test_operations import wait_until
from tests.real_stack import OPERATOR, Stack, secret_of

pytestmark = pytest.mark.e2e


@dataclass
class Organization:
    """One customer, as its relying application and its administrator call the API."""

    organization_id: str
    stack: Stack
    client_key: str
    admin_key: str

    def client(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.client_key}"}
        return self.stack.http.request(method, path, headers=headers, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        return self.stack.http.request(method, path, headers=headers, **kwargs)

    def start_login(self, user_id: str) -> dict[str, Any]:
        body = {"user_id": user_id, "email": "ada@example.com", "user_type": "editor"}
        created = self.client("POST", "/v1/logins", json=body)
        assert created.status_code == 201, created.text
        waited = self.client("GET", f"/v1/logins/{created.json()['login_id']}?wait=10")
        assert waited.status_code == 200, waited.text
        return dict(waited.json())

    def submit(self, login_id: str, code: str) -> httpx.Response:
        return self.client("POST", f"/v1/logins/{login_id}/code", json={"code": code})

    def enroll(self, user_id: str) -> str:
        login = self.start_login(user_id)
        assert login["status"] == "enrollment_required", login
        secret = secret_of(login["enrollment"]["otpauth_uri"])
        assert self.submit(login["login_id"], self.stack.code(secret)).status_code == 200
        return secret


def operator(stack: Stack, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return stack.http.request(method, f"/v1/operator{path}", headers=OPERATOR, **kwargs)


def issue_key(stack: Stack, organization_id: str, role: str) -> dict[str, Any]:
    issued = operator(
        stack, "POST", f"/organizations/{organization_id}/keys", json={"role": role, "name": role}
    )
    assert issued.status_code == 201, issued.text
    return dict(issued.json())


def new_organization(stack: Stack, issuer: str = "Imageshop") -> Organization:
    organization_id = f"org-{uuid.uuid4().hex[:8]}"
    body = {"organization_id": organization_id, "name": organization_id, "issuer": issuer}
    created = operator(stack, "POST", "/organizations", json=body)
    assert created.status_code == 201, created.text
    organization = Organization(
        organization_id,
        stack,
        issue_key(stack, organization_id, "client")["key"],
        issue_key(stack, organization_id, "admin")["key"],
    )
    policy = organization.admin("PUT", "/v1/admin/policy", json={"user_types": ["editor"]})
    assert policy.status_code == 200, policy.text
    return organization


@pytest.fixture
def acme(stack: Stack) -> Organization:
    return new_organization(stack, issuer="Acme")


@pytest.fixture
def globex(stack: Stack) -> Organization:
    return new_organization(stack, issuer="Globex")


def test_the_same_user_id_in_two_organizations_is_two_users(
    acme: Organization, globex: Organization, stack: Stack
) -> None:
    acme_secret, globex_secret = acme.enroll("ada"), globex.enroll("ada")
    assert acme_secret != globex_secret
    stack.next_step()
    # Five wrong codes through globex lock globex's ada only.
    login = globex.start_login("ada")
    for _ in range(5):
        globex.submit(login["login_id"], stack.wrong_code(globex_secret))
    assert globex.submit(login["login_id"], stack.code(globex_secret)).status_code == 423
    acme_login = acme.start_login("ada")
    assert acme.submit(acme_login["login_id"], stack.code(acme_secret)).status_code == 200
    # A reset in acme leaves globex's ada enrolled (and still locked).
    assert acme.admin("POST", "/v1/admin/users/ada/authenticator/reset").status_code == 200
    assert acme.start_login("ada")["status"] == "enrollment_required"
    assert globex.start_login("ada")["status"] in {"code_required", "locked"}


def test_the_issuer_of_each_organization_names_its_entry_in_the_app(
    acme: Organization, globex: Organization
) -> None:
    for organization, issuer in ((acme, "Acme"), (globex, "Globex")):
        uri = organization.start_login("ada")["enrollment"]["otpauth_uri"]
        assert uri.startswith(f"otpauth://totp/{issuer}:")
        assert f"issuer={issuer}" in uri


def test_another_organizations_client_key_finds_no_login_and_no_secret(
    acme: Organization, globex: Organization
) -> None:
    login = acme.start_login("ada")
    acme_secret = secret_of(login["enrollment"]["otpauth_uri"])
    path = f"/v1/logins/{login['login_id']}"
    assert globex.client("GET", path).status_code == 404
    refused = globex.client("POST", f"{path}/code", json={"code": "123456"})
    assert refused.status_code == 404
    # globex naming acme's user starts a login of globex's own "ada": a new secret.
    assert secret_of(globex.start_login("ada")["enrollment"]["otpauth_uri"]) != acme_secret
    assert acme.client("GET", path).status_code == 200


def test_another_organizations_admin_key_can_neither_read_nor_reset_a_user(
    acme: Organization, globex: Organization, stack: Stack
) -> None:
    secret = acme.enroll("ada")
    state = acme.admin("GET", "/v1/admin/users/ada/authenticator").json()
    assert (state["enrolled"], state["confirmed"]) == (True, True)
    seen_by_globex = globex.admin("GET", "/v1/admin/users/ada/authenticator").json()
    assert seen_by_globex["enrolled"] is False
    assert globex.admin("POST", "/v1/admin/users/ada/authenticator/reset").status_code == 200
    stack.next_step()
    login = acme.start_login("ada")
    assert login["status"] == "code_required"  # acme's ada was not reset
    assert acme.submit(login["login_id"], stack.code(secret)).status_code == 200
    assert globex.admin("GET", "/v1/admin/policy").json()["version"] == 1
    assert acme.admin("GET", "/v1/admin/policy/versions").json()[0]["user_types"] == ["editor"]


def test_ids_differing_only_by_case_or_width_are_one_user(acme: Organization, stack: Stack) -> None:
    acme.enroll("vip-user")
    stack.next_step()
    for spelling in ("VIP-User", "\uff36\uff29\uff30-user", " vip-user "):
        login = acme.start_login(spelling)
        assert (login["status"], login["enrollment"], login["user_id"]) == (
            "code_required",
            None,
            "vip-user",
        )


def test_ids_outside_the_documented_characters_are_refused_with_a_clear_error(
    acme: Organization,
) -> None:
    body = {"user_id": "a/b?c#d", "email": "a@example.com", "user_type": "editor"}
    refused = acme.client("POST", "/v1/logins", json=body)
    assert refused.status_code == 422
    assert "letters, digits" in refused.json()["error"]["message"]
    path = acme.admin("POST", "/v1/admin/users/a%2Fb/authenticator/reset")
    assert path.status_code in {404, 422}


def test_a_client_key_cannot_use_the_admin_or_operator_api(acme: Organization) -> None:
    assert acme.client("GET", "/v1/admin/policy").status_code == 403
    assert acme.admin("GET", "/v1/operator/organizations").status_code == 403


@pytest.fixture
def second_gateway(stack: Stack) -> Iterator[httpx.Client]:
    port = free_port()
    stack.processes.start_service("gateway", replica=1, MFA_PORT=str(port))
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20)

    def answers() -> bool:
        try:
            return client.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answers)
        yield client
    finally:
        client.close()
        stack.processes.children.pop("gateway-1").stop()


def test_a_revoked_key_is_refused_by_every_gateway_within_a_second(
    acme: Organization, stack: Stack, second_gateway: httpx.Client
) -> None:
    issued = issue_key(stack, acme.organization_id, "admin")
    bearer = {"Authorization": f"Bearer {issued['key']}"}
    for gateway in (stack.http, second_gateway):
        assert gateway.get("/v1/admin/policy", headers=bearer).status_code == 200  # now known
    path = f"/organizations/{acme.organization_id}/keys/{issued['key_id']}"
    assert operator(stack, "DELETE", path).status_code == 200
    time.sleep(1.0)
    for gateway in (stack.http, second_gateway):
        assert gateway.get("/v1/admin/policy", headers=bearer).status_code == 401
    listed = operator(stack, "GET", f"/organizations/{acme.organization_id}/keys").json()
    mine = next(k for k in listed if k["key_id"] == issued["key_id"])
    assert mine["revoked_at"] is not None
    assert mine["last_used_at"] is not None
    assert "key" not in mine
    assert "digest" not in mine


def operator_cli(stack: Stack, *args: str) -> Any:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.gateway.cli.operator",
            "--url",
            stack.processes.gateway_url,
            *args,
        ],
        env={**os.environ, "MFA_OPERATOR_KEY": "dev-operator-key"},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout)


def test_the_operator_cli_creates_an_organization_and_issues_lists_and_revokes_keys(
    stack: Stack,
) -> None:
    organization_id = f"cli-{uuid.uuid4().hex[:8]}"
    created = operator_cli(stack, "create-organization", organization_id, "--name", "Initech")
    assert (created["organization_id"], created["issuer"]) == (organization_id, "Imageshop")
    issued = operator_cli(stack, "issue-key", organization_id, "--role", "client", "--name", "app")
    bearer = {"Authorization": f"Bearer {issued['key']}"}
    body = {"user_id": "peter", "email": "peter@initech.example", "user_type": "viewer"}
    assert stack.http.post("/v1/logins", json=body, headers=bearer).status_code == 201
    [listed] = operator_cli(stack, "keys", organization_id)
    assert (listed["key_id"], listed["role"], listed["revoked_at"]) == (
        issued["key_id"],
        "client",
        None,
    )
    operator_cli(stack, "revoke-key", organization_id, issued["key_id"])
    time.sleep(1.0)
    assert stack.http.post("/v1/logins", json=body, headers=bearer).status_code == 401
