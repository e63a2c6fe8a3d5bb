from datetime import UTC, datetime, timedelta

from services.gateway.domain.login import CodeOutcome, Login, PendingEnrollment
from services.gateway.web.page_models import code_error, enrollment_view
from shared.crypto import Keyring, SecretBox, enrollment_context

BOX = SecretBox(Keyring.parse(Keyring.generate_spec("k")))
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_the_enrollment_page_shows_issuer_account_and_the_key_in_groups_of_four() -> None:
    uri = (
        "otpauth://totp/Image%20Shop:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        "&issuer=Image%20Shop&algorithm=SHA1&digits=6&period=30"
    )
    login = Login(
        "l1",
        "acme",
        "web",
        "u1",
        "ada@example.com",
        "editor",
        "enrollment_required",
        NOW,
        NOW + timedelta(minutes=5),
        enrollment=PendingEnrollment(BOX.seal(uri, enrollment_context("l1")), NOW),
    )
    page = enrollment_view(login, BOX)
    assert (page.issuer, page.account) == ("Image Shop", "ada@example.com")
    assert page.key_groups == "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"
    assert page.qr_svg.startswith("<svg")  # inline: no XML declaration inside HTML


def test_a_wrong_code_tells_how_many_attempts_are_left() -> None:
    assert code_error(CodeOutcome(False, "invalid", 1))["error"].endswith("1 attempt left.")
    assert code_error(CodeOutcome(False, "invalid", 3))["error"].endswith("3 attempts left.")


def test_expired_reused_and_locked_codes_each_say_what_to_do() -> None:
    assert "Wait for the next code" in code_error(CodeOutcome(False, "expired", 4))["error"]
    assert "already been used" in code_error(CodeOutcome(False, "reused", 4))["error"]
    locked = code_error(CodeOutcome(False, "locked", 0, NOW + timedelta(minutes=15)))
    assert locked == {
        "error": "Too many failed attempts. You can try again after 12:15 UTC.",
        "kind": "locked",
    }
    assert "too long" in code_error(None)["error"]
