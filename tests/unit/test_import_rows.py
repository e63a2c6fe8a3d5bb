"""An import's rows as values: otpauth URIs read (without pyotp's own limits), the
outcome each row gets, and a plan id that changes with any outcome."""

import base64
from datetime import UTC, datetime

import pytest

from services.gateway.domain.import_formats import (
    Secrets,
    otpauth_csv_rows,
    parse_otpauth,
    pskc_rows,
)
from services.gateway.domain.imports import MalformedFile, Planned, Row, outcome_of, plan_id
from services.gateway.domain.snapshots import AuthenticatorRecord

SECRET = base64.b32encode(b"k" * 20).decode()
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def test_a_totp_uri_gives_its_parameters_and_an_hotp_uri_its_counter() -> None:
    otp, problem = parse_otpauth(
        f"otpauth://totp/Corp:ada?secret={SECRET.lower()}&algorithm=sha512&digits=8&period=60"
    )
    assert problem == ""
    assert otp is not None
    assert (otp.otp_type, otp.algorithm, otp.digits, otp.period, otp.secret) == (
        "totp",
        "SHA512",
        8,
        60,
        b"k" * 20,
    )
    token, _ = parse_otpauth(f"otpauth://hotp/Corp:ada?secret={SECRET}&counter=42")
    assert token is not None
    assert (token.otp_type, token.counter) == ("hotp", 42)


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://example.com", "not an otpauth"),
        (f"otpauth://hotp/x?secret={SECRET}", "counter"),
        ("otpauth://totp/x?secret=abc!", "not base32"),
        ("otpauth://totp/x", "no secret"),
        (f"otpauth://totp/x?secret={SECRET}&algorithm=MD5", "MD5 is not supported"),
        (f"otpauth://totp/x?secret={SECRET}&period=45", "45 s step"),
    ],
)
def test_what_cannot_be_imported_says_why(uri: str, problem: str) -> None:
    otp, said = parse_otpauth(uri)
    assert otp is None
    assert problem in said


def test_a_row_with_the_wrong_number_of_fields_names_its_line() -> None:
    with pytest.raises(MalformedFile) as refused:
        otpauth_csv_rows(
            f"user_id,email,otpauth_uri\nu1,a@x,otpauth://totp/x?secret={SECRET}\nu2\n"
        )
    assert refused.value.row == 3


def test_outcomes_follow_what_the_user_holds_and_the_options() -> None:
    [row] = otpauth_csv_rows(f"u1,a@x,otpauth://totp/x?secret={SECRET}\n")
    held = AuthenticatorRecord("c1", None, confirmed_at=None)
    confirmed = AuthenticatorRecord("c1", NOW, confirmed_at=NOW)
    assert outcome_of(row, None, "impX", False, False)[0] == "import"
    assert outcome_of(row, held, "impX", False, False)[0] == "import"  # only offered a QR
    assert outcome_of(row, confirmed, "impX", False, False)[0] == "has_authenticator"
    assert outcome_of(row, confirmed, "impX", True, False)[0] == "replace"
    assert outcome_of(row, confirmed, "c1", False, False)[0] == "unchanged"
    short = Row(1, "u2", "b@x", parse_otpauth(f"otpauth://totp/x?secret={SECRET[:16]}")[0])
    assert outcome_of(short, None, "impY", False, False)[0] == "bad_secret"
    allowed = outcome_of(short, None, "impY", False, True)
    assert allowed == ("import", "warning: a 80-bit secret")


def test_the_plan_id_changes_with_any_outcome() -> None:
    one = [Planned(2, "u1", "import", "", "f1"), Planned(3, "u2", "bad_secret", "", "")]
    other = [Planned(2, "u1", "has_authenticator", "", "f1"), one[1]]
    assert plan_id("acme", one) == plan_id("acme", list(one))
    assert plan_id("acme", one) != plan_id("acme", other)
    assert plan_id("acme", one) != plan_id("globex", one)


def test_a_pskc_file_with_entities_is_refused_not_expanded() -> None:
    laughs = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
<KeyPackage><Key Id="1"><Issuer>&lol2;</Issuer></Key></KeyPackage></KeyContainer>"""
    with pytest.raises(MalformedFile, match="row 1"):
        pskc_rows(laughs, Secrets())
