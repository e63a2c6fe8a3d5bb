"""The real stack for e2e and browser tests: four service processes, Redis, the MongoDB
wire server, HTTP in front.

Codes are computed the way an authenticator app does, by an independent
implementation (oathtool) from the secret in the otpauth URI; QR codes are
rendered (rsvg-convert) and decoded (zbarimg) by real tools.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import schemathesis

from deploy.localstack import ROOT, LocalStack, free_port

CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
OPERATOR = {"Authorization": "Bearer dev-operator-key"}


def totp(secret: str, at: float) -> str:
    """The six digits an authenticator app shows at unix time ``at`` (oathtool, RFC 6238)."""
    result = subprocess.run(
        ["oathtool", "--totp", "-b", secret, "--now", f"@{int(at)}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def decode_qr(svg: str, workdir: Path) -> str:
    """Render the SVG as a browser would and scan it like a phone camera (zbar)."""
    (workdir / "qr.svg").write_text(svg)
    subprocess.run(
        ["rsvg-convert", str(workdir / "qr.svg"), "-o", str(workdir / "qr.png")], check=True
    )
    scan = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(workdir / "qr.png")],
        capture_output=True,
        text=True,
        check=True,
    )
    return scan.stdout.strip()


def secret_of(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


@dataclass
class Stack:
    processes: LocalStack
    http: httpx.Client
    offset_file: Path

    # --- time, as every service sees it -------------------------------------------------
    def advance(self, seconds: float) -> None:
        self.offset_file.write_text(str(self.offset() + seconds))

    def offset(self) -> float:
        return float(self.offset_file.read_text() or 0)

    def now(self) -> float:
        return time.time() + self.offset()

    def code(self, secret: str, seconds_from_now: float = 0) -> str:
        return totp(secret, self.now() + seconds_from_now)

    def wrong_code(self, secret: str) -> str:
        """Six digits that no accepted step (one back, now, one ahead) produces."""
        taken = {self.code(secret, seconds) for seconds in (-30, 0, 30)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in taken)

    def next_step(self) -> None:
        """Move to the start of the next 30-second step, so a fresh code exists."""
        self.advance(30 - self.now() % 30 + 0.5)

    # --- the API, as a relying application calls it ---------------------------------------
    def start_login(self, user_id: str, email: str, user_type: str) -> dict[str, Any]:
        response = self.http.post(
            "/v1/logins",
            headers=CLIENT,
            json={"user_id": user_id, "email": email, "user_type": user_type},
        )
        assert response.status_code == 201, response.text
        login = response.json()
        return self.wait(login["login_id"])

    def wait(self, login_id: str, seconds: float = 10) -> dict[str, Any]:
        response = self.http.get(f"/v1/logins/{login_id}", params={"wait": seconds}, headers=CLIENT)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def submit(self, login_id: str, code: str) -> httpx.Response:
        return self.http.post(f"/v1/logins/{login_id}/code", json={"code": code}, headers=CLIENT)

    def set_policy(self, **policy: Any) -> dict[str, Any]:
        response = self.http.put("/v1/admin/policy", json=policy, headers=ADMIN)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def reset(self, user_id: str) -> httpx.Response:
        return self.http.post(f"/v1/admin/users/{user_id}/authenticator/reset", headers=ADMIN)

    def authenticator(self, user_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/admin/users/{user_id}/authenticator", headers=ADMIN)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def enroll(self, user_id: str, user_type: str = "editor") -> str:
        """Take a user through the QR step; returns the secret the app now holds."""
        login = self.start_login(user_id, f"{user_id}@example.com", user_type)
        assert login["status"] == "enrollment_required", login
        secret = secret_of(login["enrollment"]["otpauth_uri"])
        response = self.submit(login["login_id"], self.code(secret))
        assert response.status_code == 200, response.text
        return secret

    def close(self) -> None:
        self.http.close()
        self.processes.stop()

    def enrolled_and_back(self, user_id: str) -> tuple[str, dict[str, Any]]:
        """Enroll a user, move to a fresh 30-second step and start their next login:
        the secret their app holds, and that login (asking for the code only)."""
        secret = self.enroll(user_id)
        self.next_step()
        return secret, self.start_login(user_id, f"{user_id}@example.com", "editor")

    def logs(self) -> str:
        return "\n".join(
            c.log_path.read_text(errors="replace")
            for c in self.processes.children.values()
            if c.log_path
        )


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    user_type: str
    password: str


def add_person(stack: Stack, user_type: str) -> Person:
    """A user in the gateway's directory, added with its own command line tool."""
    name = f"{user_type}-{uuid.uuid4().hex[:8]}"
    person = Person(name, f"{name}@imageshop.example", user_type, f"pw-{uuid.uuid4().hex}")
    put_person(stack, person)
    return person


def put_person(stack: Stack, person: Person) -> None:
    """Add or replace a user of the directory (``python -m services.gateway.cli.users add``)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "services.gateway.cli.users",
            "add",
            person.email,
            "--type",
            person.user_type,
            "--user-id",
            person.user_id,
            "--password-stdin",
        ],
        input=person.password + "\n",
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, **stack.processes.env},
    )


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def launch(
    redis_url: str,
    mongodb_url: str | None,
    workdir: Path,
    data_dir: Path | None = None,
    **env: str,
) -> Stack:
    """The four services on a namespace of their own. Without a ``mongodb_url`` the stack
    runs its own FerretDB on ``data_dir``; where nothing answers at ``redis_url`` it runs
    its own Redis there (persistent on ``data_dir`` when one is given)."""
    workdir.mkdir(parents=True, exist_ok=True)
    offset_file = workdir / "clock-offset"
    offset_file.write_text("0")
    run = uuid.uuid4().hex[:8]
    processes = LocalStack(
        env={
            "MFA_REDIS_URL": redis_url,
            "MFA_STREAM_PREFIX": f"e2e{run}:",
            "MFA_DATABASE_PREFIX": f"e2e{run}_",
            "MFA_PORT": str(free_port()),
            "MFA_CLOCK_OFFSET_FILE": str(offset_file),
            "MFA_LOG_FORMAT": "json",
            "MFA_HEARTBEAT_SECONDS": "1",
            "MFA_CODE_TIMEOUT_SECONDS": "5",
            "MFA_RECLAIM_IDLE_MS": "2000",
            # The tests' HTTP client plays the TLS proxy (X-Forwarded-Proto, -For).
            "MFA_TRUSTED_PROXIES": "127.0.0.1/32",
            **({"MFA_MONGODB_URL": mongodb_url} if mongodb_url else {}),
            **env,
        },
        log_dir=workdir / "logs",
        data_dir=data_dir,
    )
    try:
        processes.start()
    except BaseException:
        processes.stop()
        raise
    http = httpx.Client(
        base_url=processes.gateway_url, timeout=40, event_hooks={"response": [as_documented]}
    )
    return Stack(processes, http, offset_file)


@cache
def _contract() -> Any:
    return schemathesis.openapi.from_path(ROOT / "docs/openapi.json")


def as_documented(response: httpx.Response) -> None:
    """Every answer an end-to-end test gets from the JSON API, refusals included, is one
    docs/openapi.json documents for that operation: its status, and a body matching
    the status's schema. The document and the gateway cannot drift apart."""
    request = response.request
    operation = _contract().find_operation_by_path(request.method, request.url.path)
    if operation is None:  # the pages, or a method no route has
        return
    response.read()
    documented = operation.definition.raw["responses"]
    assert str(response.status_code) in documented, (
        f"{operation.label} answered {response.status_code}, documented {sorted(documented)}: "
        f"{response.text[:300]}"
    )
    try:
        request.content  # noqa: B018 - a streamed request's body cannot be read again
    except httpx.RequestNotRead:
        return
    operation.validate_response(response)


@pytest.fixture(scope="session")
def shared_stack(
    redis_url: str, mongodb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack for every module that neither stops a process nor moves the clock by
    more than a code step: each test makes its own users (and organizations), so they
    keep out of each other's way."""
    running = launch(redis_url, mongodb_url, tmp_path_factory.mktemp("shared-stack"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The shared stack; a module marked ``own_stack`` (it stops or restarts a process,
    or moves every service's clock by minutes or days) gets one of its own."""
    if request.node.get_closest_marker("own_stack") is None:
        yield request.getfixturevalue("shared_stack")
        return
    redis_url, mongodb_url = (
        request.getfixturevalue("redis_url"),
        request.getfixturevalue("mongodb_url"),
    )
    running = launch(redis_url, mongodb_url, tmp_path_factory.mktemp("stack"))
    try:
        yield running
    finally:
        running.close()
