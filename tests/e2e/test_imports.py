"""Imports (issue 21, part: the otpauth CSV format) through the real processes: a dry
run, then applied as shown; imported users sign in with codes oathtool computes, with no
QR; the same file again imports nothing; a plan that changed is refused."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pskc
import pytest

from deploy.localstack import ROOT
from tests.e2e.test_organizations import Organization, new_organization
from tests.e2e.test_self_service import notices_of
from tests.real_stack import Stack, new_user

pytestmark = pytest.mark.e2e


def new_secret(bits: int = 160) -> str:
    return base64.b32encode(secrets.token_bytes(bits // 8)).decode().rstrip("=")


def oathtool(*args: str) -> str:
    done = subprocess.run(["oathtool", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def post_file(
    organization: Organization,
    text: str | bytes,
    form: dict[str, str] | None = None,
    mapping: str | None = None,
    **params: str,
) -> httpx.Response:
    content = text.encode() if isinstance(text, str) else text
    files = {"file": ("import", content, "application/octet-stream")}
    if mapping is not None:
        files["mapping"] = ("mapping.csv", mapping.encode(), "text/csv")
    return organization.stack.http.post(
        "/v1/admin/imports",
        params=params,
        files=files,
        data=form or {},
        headers={"Authorization": f"Bearer {organization.admin_key}"},
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
    for format, broken in (
        ("google_migration", "otpauth-migration://offline?data=bm90LXByb3RvYnVm!!"),
        ("oath_csv", "serial-only"),
        ("pskc", "<KeyContainer><unclosed>"),
    ):
        answer = post_file(organization, broken, {"format": format})
        assert answer.status_code == 422, answer.text
        assert "row 1" in answer.json()["error"]["fields"][0]["message"]
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


def signs_in(organization: Organization, user: str, code: str) -> None:
    login = organization.start_login(user)
    assert login["status"] == "code_required", login  # no QR: the imported secret is theirs
    answer = organization.submit(login["login_id"], code)
    assert answer.status_code == 200, answer.text


def dry_then_apply(organization: Organization, data: str | bytes, **kw: object) -> dict:  # type: ignore[type-arg]
    dry = post_file(organization, data, **kw)  # type: ignore[arg-type]
    assert dry.status_code == 200, dry.text
    applied = post_file(organization, data, apply="true", plan=dry.json()["plan"], **kw)  # type: ignore[arg-type]
    assert applied.status_code == 200, applied.text
    return dict(dry.json())


def test_a_google_authenticator_export_imports_its_accounts_by_email(
    organization: Organization, stack: Stack
) -> None:
    from services.gateway.domain.import_formats import MIGRATION_PAYLOAD  # noqa: PLC0415

    known, unknown = new_user(), new_user()
    started = organization.client(  # a sign-in made the user known, with this e-mail
        "POST",
        "/v1/logins",
        json={"user_id": known, "email": f"{known}@corp.example", "user_type": "viewer"},
    )
    organization.client("GET", f"/v1/logins/{started.json()['login_id']}?wait=10")
    payload = MIGRATION_PAYLOAD()
    secret = secrets.token_bytes(20)
    for name in (f"Corp:{known}@corp.example", f"Corp:{unknown}@corp.example"):
        payload.otp_parameters.add(
            secret=secret, name=name, issuer="Corp", algorithm=1, digits=1, type=2
        )
    uri = "otpauth-migration://offline?data=" + base64.b64encode(
        payload.SerializeToString()
    ).decode().replace("+", "%2B")
    report = dry_then_apply(organization, uri, form={"format": "google_migration"})
    assert [r["outcome"] for r in report["rows"]] == ["import", "unknown_user"]
    b32 = base64.b32encode(secret).decode()
    signs_in(
        organization, known, oathtool("--totp", "--base32", b32, "--now", f"@{int(stack.now())}")
    )


def test_an_oath_csv_of_hardware_tokens_imports_with_a_serial_mapping(
    organization: Organization,
) -> None:
    user = new_user()
    seed = secrets.token_bytes(20).hex()
    text = f"# serial, seed, type, digits, counter\nTOK-1,{seed},hotp,8,3\n"
    report = dry_then_apply(
        organization, text, form={"format": "oath_csv"}, mapping=f"TOK-1,{user}\n"
    )
    assert report["rows"][0]["outcome"] == "import"
    signs_in(organization, user, oathtool("--hotp", "--digits=8", "--counter=3", seed))


def test_pskc_files_plain_and_encrypted_import_and_a_wrong_password_is_refused(
    organization: Organization, stack: Stack, tmp_path: Path
) -> None:
    plain_user, sealed_user = new_user(), new_user()
    plain_secret, sealed_secret = secrets.token_bytes(20), secrets.token_bytes(32)
    plain = pskc.PSKC()
    key = plain.add_key(
        serial="P-1", secret=plain_secret, algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp"
    )
    key.response_length, key.time_interval, key.key_userid = 6, 30, plain_user
    plain.write(str(tmp_path / "plain.pskc"))
    report = dry_then_apply(
        organization, (tmp_path / "plain.pskc").read_bytes(), form={"format": "pskc"}
    )
    assert report["rows"][0]["outcome"] == "import"
    b32 = base64.b32encode(plain_secret).decode()
    signs_in(
        organization,
        plain_user,
        oathtool("--totp", "--base32", b32, "--now", f"@{int(stack.now())}"),
    )

    sealed = pskc.PSKC()
    token = sealed.add_key(
        serial="S-1", secret=sealed_secret, algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp"
    )
    token.response_length, token.counter, token.key_userid = 6, 0, sealed_user
    sealed.encryption.setup_pbkdf2("correct horse battery")
    sealed.write(str(tmp_path / "sealed.pskc"))
    data = (tmp_path / "sealed.pskc").read_bytes()
    assert sealed_secret.hex() not in data.hex()  # really encrypted
    wrong = post_file(organization, data, {"format": "pskc", "password": "wrong"})
    assert wrong.status_code == 422, wrong.text
    dry_then_apply(organization, data, form={"format": "pskc", "password": "correct horse battery"})
    signs_in(organization, sealed_user, oathtool("--hotp", "--counter=0", sealed_secret.hex()))
    assert "correct horse battery" not in stack.processes.logs()


def test_the_command_line_shows_the_dry_run_then_applies_it(
    organization: Organization, stack: Stack, tmp_path: Path
) -> None:
    user = new_user()
    secret = new_secret()
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(f"{user},{user}@corp.example,otpauth://totp/Corp:x?secret={secret}\n")
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway.cli.imports", str(csv_file), "--apply"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={
            **os.environ,
            "MFA_GATEWAY_URL": stack.processes.gateway_url,
            "MFA_ADMIN_KEY": organization.admin_key,
        },
    )
    assert '"applied": true' in done.stdout
    assert secret not in done.stdout
    signs_in(
        organization, user, oathtool("--totp", "--base32", secret, "--now", f"@{int(stack.now())}")
    )


# The review of imports as an attacker (docs/import.md, "Review"): each failed before.


def test_a_plan_promises_every_setting_not_just_the_secret(organization: Organization) -> None:
    user = new_user()
    secret = new_secret()
    shown = f"{user},{user}@x.example,otpauth://hotp/C:x?secret={secret}&counter=1000\n"
    dry = post_file(organization, shown)
    changed = shown.replace("counter=1000", "counter=0&digits=8&algorithm=SHA512")
    refused = post_file(organization, changed, apply="true", plan=dry.json()["plan"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "plan_changed"


def test_a_token_imported_again_never_accepts_its_used_codes_again(
    organization: Organization,
) -> None:
    user = new_user()
    first, other = new_secret(), new_secret()
    token = f"{user},{user}@x.example,otpauth://hotp/C:x?secret={first}&counter=0\n"
    dry_then_apply(organization, token)
    signs_in(organization, user, oathtool("--hotp", "--counter=0", "--base32", first))
    replaced = f"{user},{user}@x.example,otpauth://hotp/C:x?secret={other}&counter=0\n"
    dry_then_apply(organization, replaced, on_existing="replace")
    dry_then_apply(organization, token, on_existing="replace")  # the vendor's file, again
    login = organization.start_login(user)
    used = organization.submit(
        login["login_id"], oathtool("--hotp", "--counter=0", "--base32", first)
    )
    assert used.status_code == 400, used.text
    assert used.json()["error"]["code"] == "reused_code"


def test_hostile_numbers_fields_and_key_derivations_are_clear_refusals(
    organization: Organization, tmp_path: Path
) -> None:
    user = new_user()
    secret = new_secret()
    for counter in ("%C2%B2", str(2**64), str(2**63 - 2)):
        row = f"{user},{user}@x.example,otpauth://hotp/C:x?secret={secret}&counter={counter}\n"
        answer = post_file(organization, row)
        assert answer.status_code == 200, answer.text
        assert answer.json()["rows"][0]["outcome"] == "bad_secret"
    huge = post_file(organization, f"{user},{'x' * 140_000},otpauth://totp/x?secret={secret}\n")
    assert huge.status_code == 422, huge.text
    many = "".join(f"u{i},u{i}@x.example,otpauth://totp/x?secret={secret}\n" for i in range(1001))
    assert post_file(organization, many).status_code == 422
    costly = pskc.PSKC()
    costly.add_key(
        serial="S", secret=b"k" * 20, algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp"
    )
    costly.encryption.setup_pbkdf2("pw", iterations=10_000_000)
    costly.write(str(tmp_path / "costly.pskc"))
    refused = post_file(
        organization, (tmp_path / "costly.pskc").read_bytes(), {"format": "pskc", "password": "pw"}
    )
    assert refused.status_code == 422, refused.text
    assert "too much work" in refused.text


def test_an_administrator_resynchronises_a_token_pressed_far_ahead(
    organization: Organization,
) -> None:
    user, app_user = new_user(), new_user()
    secret = new_secret()
    dry_then_apply(
        organization,
        f"{user},{user}@x.example,otpauth://hotp/C:x?secret={secret}&counter=0\n"
        f"{app_user},{app_user}@x.example,otpauth://totp/C:x?secret={new_secret()}\n",
    )

    def code(counter: int) -> str:
        return oathtool("--hotp", f"--counter={counter}", "--base32", secret)

    login = organization.start_login(user)
    far = organization.submit(login["login_id"], code(50))  # past the look-ahead of 10
    assert far.status_code == 400, far.text
    path = f"/v1/admin/users/{user}/authenticator/resync"
    wrong = organization.admin("POST", path, json={"codes": [code(50), code(52)]})
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["error"]["code"] == "no_match"
    done = organization.admin("POST", path, json={"codes": [code(50), code(51)]})
    assert done.status_code == 200, done.text
    replay = organization.start_login(user)
    assert organization.submit(replay["login_id"], code(51)).status_code == 400
    signs_in(organization, user, code(52))
    not_a_token = organization.admin(
        "POST",
        f"/v1/admin/users/{app_user}/authenticator/resync",
        json={"codes": ["123456", "234567"]},
    )
    assert not_a_token.status_code == 409, not_a_token.text


def coverage_of(organization: Organization, user: str) -> dict:  # type: ignore[type-arg]
    found = organization.admin("GET", "/v1/admin/users", params={"q": user})
    assert found.status_code == 200, found.text
    [state] = found.json()["users"]
    return dict(state)


def test_confirmed_at_first_use_the_first_code_confirms_it_and_brings_recovery_codes(
    organization: Organization, stack: Stack
) -> None:
    user = new_user()
    assert organization.start_login(user)["status"] == "enrollment_required"  # known, a QR shown
    secret = new_secret()
    text = f"{user},{user}@corp.example,otpauth://totp/Corp:x?secret={secret}\n"
    dry = post_file(organization, text, confirm="first_use")
    assert dry.json()["rows"][0]["outcome"] == "import"  # a QR offered is no authenticator yet
    # The plan promises how rows are confirmed too: applying it the other way is refused.
    other = post_file(organization, text, apply="true", plan=dry.json()["plan"])
    assert other.status_code == 409, other.text
    applied = post_file(
        organization, text, apply="true", plan=dry.json()["plan"], confirm="first_use"
    )
    assert applied.status_code == 200, applied.text
    state = coverage_of(organization, user)
    assert (state["enrollment"], state["source"]) == ("awaiting_first_use", "imported")

    login = organization.start_login(user)
    assert (login["status"], login["enrollment"]) == ("code_required", None)  # no QR
    first = organization.submit(login["login_id"], stack.code(secret))
    assert first.status_code == 200, first.text
    assert len(first.json()["recovery_codes"]) == 10  # as a scanned QR's first code brings
    assert coverage_of(organization, user)["enrollment"] == "enrolled"
    kinds = [n["kind"] for n in notices_of(stack, user, 2)]
    assert kinds[:2] == ["authenticator_imported", "authenticator_confirmed"]

    stack.next_step()
    later = organization.start_login(user)
    second = organization.submit(later["login_id"], stack.code(secret))
    assert second.status_code == 200, second.text
    assert second.json().get("recovery_codes") is None  # confirmed once


def test_an_import_confirmed_now_is_enrolled_and_says_where_it_came_from(
    organization: Organization,
) -> None:
    user = new_user()
    organization.start_login(user)
    text = f"{user},{user}@corp.example,otpauth://totp/Corp:x?secret={new_secret()}\n"
    dry_then_apply(organization, text)
    state = coverage_of(organization, user)
    assert (state["enrollment"], state["source"]) == ("enrolled", "imported")
    assert "authenticator_imported" in [n["kind"] for n in notices_of(organization.stack, user, 1)]


def test_a_name_that_could_be_a_secret_is_never_shown_in_a_report(
    organization: Organization,
) -> None:
    secret, seed = new_secret(), secrets.token_bytes(20).hex()
    columns_swapped = f"otpauth://totp/Corp:x?secret={secret},u-x1,x1@corp.example\n"
    report = post_file(organization, columns_swapped)
    assert report.status_code == 200, report.text
    assert secret not in report.text
    assert report.json()["rows"][0]["outcome"] == "unknown_user"
    seed_as_user = post_file(
        organization, f"TOK-9,{seed},totp,6,30,{seed}\n", {"format": "oath_csv"}
    )
    assert seed not in seed_as_user.text, seed_as_user.text
    assert seed.upper() not in seed_as_user.text.upper()


def test_one_secret_on_two_rows_imports_neither(organization: Organization) -> None:
    first, second, secret = new_user(), new_user(), new_secret()
    text = "".join(
        f"{u},{u}@corp.example,otpauth://totp/Corp:x?secret={secret}\n" for u in (first, second)
    )
    report = post_file(organization, text)
    assert [r["outcome"] for r in report.json()["rows"]] == ["duplicate_secret"] * 2


def test_imported_users_are_listed_before_their_first_sign_in(organization: Organization) -> None:
    user = new_user()
    text = f"{user},{user}@corp.example,otpauth://totp/Corp:x?secret={new_secret()}\n"
    dry_then_apply(organization, text, confirm="first_use")
    state = coverage_of(organization, user)  # never signed in
    assert (state["enrollment"], state["source"], state["email"]) == (
        "awaiting_first_use",
        "imported",
        f"{user}@corp.example",
    )
    assert "authenticator_imported" in [n["kind"] for n in notices_of(organization.stack, user, 1)]
