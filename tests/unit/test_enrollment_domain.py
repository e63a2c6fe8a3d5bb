import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp

from services.enrollment.domain import Next, new_credential, new_secret, next_step, otpauth_uri
from shared.identity import UserRef

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_secrets_are_160_random_bits_in_32_base32_characters() -> None:
    secrets = {new_secret() for _ in range(200)}
    assert len(secrets) == 200
    for secret in secrets:
        assert len(secret) == 32
        assert len(base64.b32decode(secret)) == 20


def test_otpauth_uri_carries_issuer_account_and_rfc6238_parameters() -> None:
    uri = otpauth_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "Imageshop", "ada+mfa@example.com")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert parsed.path == "/Imageshop:ada%2Bmfa%40example.com"
    assert parse_qs(parsed.query) == {
        "secret": ["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"],
        "issuer": ["Imageshop"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }
    app_view = pyotp.parse_uri(uri)  # what an authenticator app reads back
    assert (app_view.issuer, app_view.name) == ("Imageshop", "ada+mfa@example.com")
    assert (app_view.digits, app_view.interval) == (6, 30)


def test_an_issuer_with_spaces_is_encoded() -> None:
    uri = otpauth_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "Image Shop", "a@b.c")
    assert pyotp.parse_uri(uri).issuer == "Image Shop"


def test_a_user_without_credential_gets_a_new_one() -> None:
    assert next_step(None, NOW) is Next.ISSUE_NEW


def test_a_pending_credential_is_shown_again_until_its_offer_expires() -> None:
    pending = new_credential(UserRef("acme", "u1"), "a@b.c", NOW, timedelta(minutes=10))
    assert next_step(pending, NOW + timedelta(minutes=9)) is Next.SHOW_PENDING
    assert next_step(pending, NOW + timedelta(minutes=10)) is Next.ISSUE_NEW


def test_a_confirmed_credential_only_asks_for_the_code() -> None:
    pending = new_credential(UserRef("acme", "u1"), "a@b.c", NOW, timedelta(minutes=10))
    confirmed = type(pending)(**{**pending.__dict__, "confirmed_at": NOW})
    assert next_step(confirmed, NOW + timedelta(days=400)) is Next.ASK_FOR_CODE


def test_an_import_awaiting_first_use_asks_for_the_code_and_is_never_offered_again() -> None:
    pending = new_credential(UserRef("acme", "u1"), "a@b.c", NOW, timedelta(seconds=1))
    imported = replace(pending, first_use=True)
    assert (imported.pending, imported.awaiting_first_use) == (False, True)
    assert next_step(imported, NOW + timedelta(days=30)) is Next.ASK_FOR_CODE
    assert imported.kinds() == ()  # not confirmed: nothing held yet
    used = replace(imported, confirmed_at=NOW)
    assert (used.pending, used.awaiting_first_use, used.kinds()) == (False, False, ("totp",))
