"""Imports (issue 21, part: the otpauth CSV format) through the real processes: a dry
run, then applied as shown; imported users sign in with codes oathtool computes, with no
QR; the same file again imports nothing; a plan that changed is refused."""

from __future__ import annotations

import base64
import secrets
import subprocess

import httpx
import pytest

from tests.e2e.test_organizations import Organization, new_organization
from tests.real_stack import Stack, new_user

pytestmark = pytest.mark.e2e


def new_secret(bits: int = 160) -> str:
    return base64.b32encode(secrets.token_bytes(bits // 8)).decode().rstrip("=")


def oathtool(*args: str) -> str:
    done = subprocess.run(["oathtool", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def post_file(organization: Organization, text: str | bytes, **params: str) -> httpx.Response:
    return organization.stack.http.post(
        "/v1/admin/imports",
        params=params,
        content=text.encode() if isinstance(text, str) else text,
        headers={"Authorization": f"Bearer {organization.admin_key}", "Content-Type": "text/csv"},
    )


@pytest.fixture
def organization(stack: Stack) -> Organization:
    return new_organization(stack)


def test_a_file_is_shown_then_applied_and_its_users_sign_in_with_no_qr(
    organization: Organization, stack: Stack
) -> None:
    app_user, token_user, enrolled, short = (new_user() for _ in range(4))
    app_secret, token_secret = new_secret(), new_secret()
    organization.enroll(enrolled)
    text = "\n".join(
        [
            "user_id,email,otpauth_uri",
            f"{app_user},{app_user}@corp.example,otpauth://totp/Corp:{app_user}?secret={app_secret}"
            "&algorithm=SHA256&digits=8&period=60",
            f"{token_user},{token_user}@corp.example,otpauth://hotp/Corp:{token_user}?"
            f"secret={token_secret}&counter=5",
            f"{enrolled},{enrolled}@corp.example,otpauth://totp/Corp:x?secret={new_secret()}",
            f"{short},{short}@corp.example,otpauth://totp/Corp:x?secret={new_secret(80)}",
            f"{new_user()},z@corp.example,otpauth://totp/Corp:x?secret=not-base32!",
            f"{new_user()},z@corp.example,otpauth://totp/Corp:x?secret={new_secret()}&digits=7",
        ]
    )
    dry = post_file(organization, text)
    assert dry.status_code == 200, dry.text
    outcomes = [r["outcome"] for r in dry.json()["rows"]]
    assert outcomes == [
        "import",
        "import",
        "has_authenticator",
        "bad_secret",
        "bad_secret",
        "unsupported",
    ]
    assert [r["row"] for r in dry.json()["rows"]] == [2, 3, 4, 5, 6, 7]
    assert dry.json()["applied"] is False
    assert app_secret not in dry.text
    assert token_secret not in dry.text

    applied = post_file(organization, text, apply="true", plan=dry.json()["plan"])
    assert applied.status_code == 200, applied.text
    assert applied.json()["counts"]["import"] == 2

    login = organization.start_login(app_user)
    assert (login["status"], login["enrollment"], login["code_digits"]) == (
        "code_required",
        None,
        8,
    )
    code = oathtool(
        "--totp=sha256",
        "--digits=8",
        "--time-step-size=60s",
        "--base32",
        app_secret,
        "--now",
        f"@{int(stack.now())}",
    )
    assert organization.submit(login["login_id"], code).status_code == 200

    token = organization.start_login(token_user)
    assert token["status"] == "code_required"
    pressed = oathtool("--hotp", "--counter=7", "--base32", token_secret)  # two presses ahead
    assert organization.submit(token["login_id"], pressed).status_code == 200
    again = organization.start_login(token_user)
    replayed = organization.submit(again["login_id"], pressed)
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"]["code"] == "reused_code"
    behind = organization.submit(
        again["login_id"], oathtool("--hotp", "--counter=6", "--base32", token_secret)
    )
    assert behind.status_code == 400, behind.text
    following = oathtool("--hotp", "--counter=8", "--base32", token_secret)
    assert organization.submit(again["login_id"], following).status_code == 200

    once_more = post_file(organization, text)
    assert [r["outcome"] for r in once_more.json()["rows"]][:2] == ["unchanged", "unchanged"]
    logs = stack.processes.logs()
    for secret in (app_secret, token_secret):
        assert secret not in logs


def test_applying_a_plan_that_changed_imports_nothing(
    organization: Organization,
) -> None:
    user = new_user()
    text = f"{user},{user}@corp.example,otpauth://totp/Corp:x?secret={new_secret()}\n"
    dry = post_file(organization, text)
    assert dry.json()["rows"][0]["outcome"] == "import"
    organization.enroll(user)  # the user set up an app meanwhile
    refused = post_file(organization, text, apply="true", plan=dry.json()["plan"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "plan_changed"
    login = organization.start_login(user)
    assert login["status"] == "code_required"  # the app they set up, not the file's


def test_a_malformed_file_is_refused_naming_its_row(organization: Organization) -> None:
    user = new_user()
    text = f"{user},{user}@corp.example,otpauth://totp/x?secret={new_secret()}\nbroken,row\n"
    refused = post_file(organization, text)
    assert refused.status_code == 422, refused.text
    assert "row 2" in refused.json()["error"]["fields"][0]["message"]
    binary = post_file(organization, b"\xff\xfe\x00not text")
    assert binary.status_code == 422, binary.text
    assert "UTF-8" in binary.json()["error"]["fields"][0]["message"]


def test_a_user_with_an_app_is_replaced_only_when_asked(organization: Organization) -> None:
    user = new_user()
    organization.enroll(user)
    secret = new_secret()
    text = f"{user},{user}@corp.example,otpauth://totp/Corp:x?secret={secret}\n"
    dry = post_file(organization, text, on_existing="replace")
    assert dry.json()["rows"][0]["outcome"] == "replace"
    applied = post_file(
        organization, text, apply="true", on_existing="replace", plan=dry.json()["plan"]
    )
    assert applied.status_code == 200, applied.text
    login = organization.start_login(user)
    code = oathtool("--totp", "--base32", secret, "--now", f"@{int(organization.stack.now())}")
    assert login["enrollment"] is None  # no QR: the file's secret is the app's
    assert organization.submit(login["login_id"], code).status_code == 200
