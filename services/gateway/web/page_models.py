"""What the MFA pages show, derived from a login and an answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from services.gateway.domain.login import CodeOutcome, Login
from services.gateway.presentation.qr import qr_svg, secret_of
from services.gateway.presentation.wording import locked_message, refusal_wording
from shared.crypto import SecretBox, enrollment_context


@dataclass(frozen=True)
class EnrollmentPage:
    qr_svg: str
    issuer: str
    account: str
    key_groups: str  # the secret in groups of four, for typing into the app
    settings: str = ""  # codes other than SHA1, 6 digits, 30 s: what to choose in the app


def enrollment_view(login: Login, box: SecretBox) -> EnrollmentPage:
    assert login.enrollment is not None  # noqa: S101 - callers check the status first
    assert login.enrollment.otpauth_uri is not None  # noqa: S101 - and that an app may be used
    uri = box.open(login.enrollment.otpauth_uri, enrollment_context(login.login_id))
    issuer, _, account = unquote(urlparse(uri).path.lstrip("/")).partition(":")
    secret = secret_of(uri)
    groups = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    svg = qr_svg(uri)
    inline = svg[svg.index("<svg") :]  # inside HTML, without the XML declaration
    return EnrollmentPage(
        qr_svg=inline,
        issuer=issuer,
        account=account,
        key_groups=groups,
        settings=code_settings(parse_qs(urlparse(uri).query)),
    )


def code_settings(query: dict[str, list[str]]) -> str:
    """What to choose in an app typing the key by hand, where the codes are not the
    usual SHA1, 6 digits, 30 seconds ("" when they are)."""
    algorithm = query.get("algorithm", ["SHA1"])[0]
    digits = query.get("digits", ["6"])[0]
    period = query.get("period", ["30"])[0]
    if (algorithm, digits, period) == ("SHA1", "6", "30"):
        return ""
    return f"{algorithm}, {digits} digits, every {period} seconds"


PASSKEY_NOT_SENT = "Your browser sent no passkey. Select the button and follow its prompt."


@dataclass(frozen=True)
class PasskeyView:
    ceremony: str  # registration, authentication
    options: str  # the options JSON, for /static/mfa.js
    button: str
    help: str
    action: str  # where the form sends the browser's answer


def passkey_view(ceremony: str, options: str, action: str) -> PasskeyView:
    if ceremony == "registration":
        return PasskeyView(
            ceremony,
            options,
            "Create a passkey",
            "Your browser asks where to keep it: this device, your phone, or a security key.",
            action,
        )
    return PasskeyView(
        ceremony,
        options,
        "Use your passkey",
        "Your browser asks you to confirm with the device that holds your passkey.",
        action,
    )


def code_error(outcome: CodeOutcome | None, kind: str = "totp") -> dict[str, Any]:
    """The message shown beside the field that was refused: the app's code, the recovery
    code, or the passkey button (``kind`` in the flash says which)."""
    field = {"passkey": "passkey", "recovery_code": "recovery"}.get(kind)
    if outcome is None:
        return {"error": "Checking took too long. Try again in a moment.", "kind": field}
    if outcome.reason == "locked" or (outcome.locked_until and outcome.attempts_left == 0):
        return {"error": locked_message(outcome.locked_until), "kind": "locked"}
    code, message = refusal_wording(kind, outcome.reason or "invalid")
    if outcome.attempts_left is not None:
        plural = "attempt" if outcome.attempts_left == 1 else "attempts"
        message = f"{message} {outcome.attempts_left} {plural} left."
    return {"error": message, "kind": field or code}
