"""What clients get for bad keys, bad bodies and impossible requests."""

from __future__ import annotations

import pytest

from tests.real_stack import ADMIN, CLIENT, OPERATOR, Stack, new_user

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/logins"),
        ("GET", "/v1/logins/x"),
        ("POST", "/v1/logins/x/code"),
        ("GET", "/v1/admin/policy"),
        ("PUT", "/v1/admin/policy"),
        ("POST", "/v1/admin/users/u/authenticator/reset"),
        ("GET", "/v1/admin/users/u/authenticator"),
    ],
)
def test_every_v1_route_needs_a_known_key(stack: Stack, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic x"}):
        response = stack.http.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/admin/policy"), ("POST", "/v1/admin/users/u/authenticator/reset")],
)
def test_a_client_key_cannot_call_admin_routes(stack: Stack, method: str, path: str) -> None:
    assert stack.http.request(method, path, headers=CLIENT).status_code == 403


def test_an_admin_key_cannot_start_logins(stack: Stack) -> None:
    response = stack.http.post(
        "/v1/logins",
        headers=ADMIN,
        json={"user_id": "u", "email": "u@example.com", "user_type": "editor"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "user_type": "editor"}, "user_id"),
        ({"user_id": "u", "email": "not-an-email", "user_type": "editor"}, "email"),
        ({"user_id": "u", "email": "a@example.com", "user_type": ""}, "user_type"),
        ({"user_id": "u" * 129, "email": "a@example.com", "user_type": "editor"}, "user_id"),
        ({"user_id": "u", "email": "a@example.com", "user_type": "e", "admin": True}, "admin"),
    ],
)
def test_bad_login_bodies_get_422_naming_the_field(stack: Stack, body: dict, field: str) -> None:
    response = stack.http.post("/v1/logins", headers=CLIENT, json=body)
    assert response.status_code == 422
    assert field in response.json()["error"]["message"]


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "12 456", "", 123456])
def test_a_code_that_is_not_six_digits_gets_422(stack: Stack, code: object) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "editor")
    response = stack.http.post(
        f"/v1/logins/{login['login_id']}/code", headers=CLIENT, json={"code": code}
    )
    assert response.status_code == 422
    assert "code" in response.json()["error"]["message"]
    assert stack.wait(login["login_id"], 0)["status"] == "enrollment_required"


def test_bad_policy_bodies_get_422(stack: Stack) -> None:
    response = stack.http.put("/v1/admin/policy", headers=ADMIN, json={"all_users": "sometimes"})
    assert response.status_code == 422
    assert "all_users" in response.json()["error"]["message"]


def test_malformed_json_gets_422_not_500(stack: Stack) -> None:
    response = stack.http.post(
        "/v1/logins", headers={**CLIENT, "Content-Type": "application/json"}, content=b"{not json"
    )
    assert response.status_code == 422


def test_unknown_logins_are_404_and_other_clients_logins_too(stack: Stack) -> None:
    assert stack.http.get("/v1/logins/nope", headers=CLIENT).status_code == 404
    assert (
        stack.http.post("/v1/logins/nope/code", headers=CLIENT, json={"code": "123456"}).status_code
        == 404
    )


def test_a_wait_over_sixty_seconds_is_refused(stack: Stack) -> None:
    user = new_user()
    login = stack.start_login(user, f"{user}@example.com", "viewer")
    response = stack.http.get(
        f"/v1/logins/{login['login_id']}", params={"wait": 61}, headers=CLIENT
    )
    assert response.status_code == 422


def test_a_new_login_is_pending_until_decided(stack: Stack) -> None:
    user = new_user()
    created = stack.http.post(
        "/v1/logins",
        headers=CLIENT,
        json={"user_id": user, "email": f"{user}@example.com", "user_type": "editor"},
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {
        "login_id",
        "user_id",
        "status",
        "mfa_required",
        "enrollment",
        "expires_at",
        "passed_by",
        "recovery_codes",
        "kinds",
        "passkey",
        "code_digits",
    }
    assert body["status"] in {"pending", "enrollment_required"}
    assert stack.wait(body["login_id"])["status"] == "enrollment_required"


def test_unknown_users_have_no_authenticator(stack: Stack) -> None:
    status = stack.authenticator(new_user())
    assert (status["enrolled"], status["confirmed"], status["locked_until"]) == (False, False, None)


def test_metrics_need_an_operator_key_and_show_streams_and_backlogs(stack: Stack) -> None:
    assert stack.http.get("/metrics").status_code == 401
    assert stack.http.get("/metrics", headers=CLIENT).status_code == 403
    assert stack.http.get("/metrics", headers=ADMIN).status_code == 403  # spans organizations
    user = new_user()
    stack.start_login(user, f"{user}@example.com", "viewer")
    text = stack.http.get("/metrics", headers=OPERATOR).text
    prefix = stack.processes.env["MFA_STREAM_PREFIX"]
    assert f'mfa_stream_lag{{group="gateway",stream="{prefix}mfa.login.decided"}}' in text
    assert "mfa_received_messages_total{" in text


def test_health_and_readiness(stack: Stack) -> None:
    assert stack.http.get("/healthz").json() == {"status": "ok"}
    ready = stack.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": True, "mongodb": True}
    assert ready.json()["downstream"] == {"policy": 1, "enrollment": 1, "verification": 1}
    metrics = stack.http.get("/metrics", headers=OPERATOR).text
    assert 'mfa_downstream_replicas{service="verification"} 1.0' in metrics


def test_a_policy_change_over_a_stale_version_is_refused_and_says_what_changed(
    stack: Stack,
) -> None:
    loaded = stack.http.get("/v1/admin/policy", headers=ADMIN)
    seen = loaded.headers["etag"]
    assert seen == f'"{loaded.json()["version"]}"'
    other = stack.http.put(
        "/v1/admin/policy",
        headers={**ADMIN, "If-Match": seen},
        json={"user_types": ["editor", "x"]},
    )
    assert other.status_code == 200
    assert other.headers["etag"] == f'"{other.json()["version"]}"'
    stale = stack.http.put(
        "/v1/admin/policy", headers={**ADMIN, "If-Match": seen}, json={"all_users": True}
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "policy_changed"
    assert "user types added: x" in error["message"]
    assert error["current"]["version"] == other.json()["version"]
    assert stack.http.get("/v1/admin/policy", headers=ADMIN).json()["all_users"] is False
    unreadable = stack.http.put(
        "/v1/admin/policy", headers={**ADMIN, "If-Match": "yesterday"}, json={}
    )
    assert unreadable.status_code == 422
