"""The HTTP edge under hostile input: no 5xx, nothing buffered that will be refused."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from pymongo import MongoClient

from tests.real_stack import CLIENT, Stack, new_user

pytestmark = pytest.mark.e2e


def raw_exchange(stack: Stack, head: bytes, timeout: float = 5) -> bytes:
    """Send ``head`` (request line, headers and perhaps part of a body) and read what the
    gateway answers without sending anything more."""
    url = urlparse(stack.processes.gateway_url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sock.sendall(head)
        return sock.recv(4096)


def test_a_request_without_a_key_is_refused_before_its_body_is_read(stack: Stack) -> None:
    head = (
        b"POST /v1/logins HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000\r\n\r\n{"  # a body within the cap, one byte of it sent
    )
    answer = raw_exchange(stack, head)  # a gateway waiting for the body would time out
    assert answer.startswith(b"HTTP/1.1 401")


def test_a_huge_body_is_refused_before_it_is_read_with_or_without_a_key(stack: Stack) -> None:
    for key in (b"", b"Authorization: Bearer not-a-key\r\n"):
        head = (
            b"POST /v1/logins HTTP/1.1\r\nHost: gateway\r\n" + key + b"Content-Type: "
            b"application/json\r\nContent-Length: 41943040\r\n\r\n{"  # 40 MiB announced
        )
        assert raw_exchange(stack, head).split(b" ")[1] in {b"401", b"413"}


def test_a_body_over_the_cap_is_refused_even_with_a_valid_key(stack: Stack) -> None:
    head = (
        b"POST /v1/logins HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer dev-client-key\r\n"
        b"Content-Type: application/json\r\nContent-Length: 41943040\r\n\r\n{"
    )
    assert raw_exchange(stack, head).startswith(b"HTTP/1.1 413")


def test_a_chunked_body_is_cut_off_at_the_cap(stack: Stack) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"user_id": "u", "email": "a@b.c", "user_type": "x", "pad": "'
        for _ in range(100):
            yield b"x" * 1024

    response = stack.http.post(
        "/v1/logins",
        content=chunks(),
        headers={**CLIENT, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_a_csrf_token_of_any_characters_is_refused_not_a_server_error(stack: Stack) -> None:
    with httpx.Client(base_url=stack.processes.gateway_url) as browserless:
        browserless.get("/")
        for forged in ("é", "\u2028", "x" * 5000, ""):
            response = browserless.post(
                "/signin", data={"email": "a@b.c", "password": "x", "csrf_token": forged}
            )
            assert response.status_code in {403, 422}, (forged, response.status_code)


def test_anonymous_pages_cost_no_session_document(stack: Stack) -> None:
    env = stack.processes.env
    with MongoClient(env["MFA_MONGODB_URL"]) as mongo:
        sessions = mongo[f"{env['MFA_DATABASE_PREFIX']}gateway"]["sessions"]
        before = sessions.count_documents({})
        for _ in range(5):
            with httpx.Client(base_url=stack.processes.gateway_url) as visitor:
                assert visitor.get("/").status_code == 200
                assert visitor.get("/admin/signin").status_code == 200
        assert sessions.count_documents({}) == before


def codes_checked(stack: Stack) -> int:
    log = stack.processes.children["verification"].log_path
    assert log is not None
    return log.read_text().count('"event": "code_checked"')


def test_a_locked_users_codes_are_answered_at_the_edge_and_cost_verification_nothing(
    stack: Stack,
) -> None:
    user = new_user()
    secret, login = stack.enrolled_and_back(user)
    answers = [stack.submit(login["login_id"], stack.wrong_code(secret)) for _ in range(5)]
    assert answers[-1].status_code == 423
    checked = codes_checked(stack)
    another = stack.start_login(user, f"{user}@example.com", "editor")
    for candidate in (login, another):
        refused = stack.submit(candidate["login_id"], stack.code(secret))
        assert (refused.status_code, refused.json()["error"]["code"]) == (423, "locked")
        assert refused.json()["locked_until"] == answers[-1].json()["locked_until"]
    time.sleep(0.5)
    assert codes_checked(stack) == checked


def test_hsts_is_sent_only_over_tls(stack: Stack) -> None:
    plain = stack.http.get("/")
    assert "strict-transport-security" not in plain.headers
    # The test client talks to uvicorn from 127.0.0.1, a trusted proxy in the test stacks.
    tls = stack.http.get("/", headers={"X-Forwarded-Proto": "https"})
    assert tls.headers["strict-transport-security"].startswith("max-age=31536000")


def test_the_access_log_never_holds_a_hosted_page_id(stack: Stack) -> None:
    login = stack.start_login(new_user(), "someone@example.com", "editor")
    with httpx.Client(base_url=stack.processes.gateway_url) as browser:
        assert browser.get(f"/mfa/{login['login_id']}").status_code == 200
    log = stack.processes.children["gateway"].log_path
    assert log is not None
    time.sleep(0.2)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "http_request"]
    assert {"method": "GET", "route": "/mfa/{login_id}", "status": 200}.items() <= next(
        line for line in access if line["route"] == "/mfa/{login_id}"
    ).items()
    assert all(isinstance(line["duration_ms"], float | int) for line in access)
    assert login["login_id"] not in log.read_text()
