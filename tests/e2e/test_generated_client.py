"""docs/openapi.json as a client developer meets it: a Python client generated from it by
openapi-python-client (pinned in the dev dependencies) runs the README's story, and
every refusal comes back typed."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.localstack import ROOT
from tests.real_stack import Stack, new_user, secret_of

pytestmark = pytest.mark.e2e

PACKAGE = "mfa_client"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The package openapi-python-client writes from the document, importable."""
    where = tmp_path_factory.mktemp("generated")
    subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(ROOT / "docs/openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
        ],
        check=True,
        capture_output=True,
        cwd=where,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def part(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_login_story_runs_through_a_generated_client_with_typed_errors(
    generated: Any, stack: Stack
) -> None:
    url = stack.processes.gateway_url
    admin = generated.AuthenticatedClient(base_url=url, token="dev-admin-key")
    client = generated.AuthenticatedClient(base_url=url, token="dev-client-key")
    models = part("models")

    policy = part("api.administration.put_policy").sync_detailed(
        client=admin, body=models.PolicyRequest(user_types=["editor"])
    )
    assert policy.status_code == 200
    assert list(policy.parsed.user_types) == ["editor"]

    user = new_user()
    started = part("api.logins.start_login").sync(
        client=client,
        body=models.LoginRequest(user_id=user, email=f"{user}@example.com", user_type="editor"),
    )
    assert isinstance(started, models.LoginState)
    login = part("api.logins.get_login").sync(client=client, login_id=started.login_id, wait=10)
    assert login.status == models.LoginStatus.ENROLLMENT_REQUIRED
    secret = secret_of(login.enrollment.otpauth_uri)

    submit = part("api.logins.submit_code")
    wrong = submit.sync_detailed(
        client=client,
        login_id=login.login_id,
        body=models.CodeRequest(code=stack.wrong_code(secret)),
    )
    assert wrong.status_code == 400
    assert isinstance(wrong.parsed, models.CodeRefused)
    assert wrong.parsed.error.code == models.CodeRefusalCode.INVALID_CODE
    assert wrong.parsed.error.attempts_left == 4

    right = submit.sync(
        client=client, login_id=login.login_id, body=models.CodeRequest(code=stack.code(secret))
    )
    assert isinstance(right, models.LoginState)
    assert right.status == models.LoginStatus.AUTHENTICATED
    assert right.passed_by == models.PassedBy.CODE
    assert len(right.recovery_codes) == 10

    missing = part("api.logins.get_login").sync_detailed(client=client, login_id="no-such-login")
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.ErrorBody)
    assert missing.parsed.error.code == "login_not_found"

    invalid = part("api.logins.start_login").sync_detailed(
        client=client,
        body=models.LoginRequest(user_id="a/b?c", email="a@example.com", user_type="editor"),
    )
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.ErrorBody)
    assert invalid.parsed.error.code == "invalid_request"
    assert [f.field for f in invalid.parsed.error.fields] == ["user_id"]
