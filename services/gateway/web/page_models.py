"""What the MFA pages show, derived from a login and an answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from services.gateway.domain.login import CodeOutcome, Login
from services.gateway.presentation.qr import qr_svg, secret_of
from services.gateway.presentation.wording import REFUSALS, locked_message
from shared.crypto import SecretBox, enrollment_context


@dataclass(frozen=True)
class EnrollmentPage:
    qr_svg: str
    issuer: str
    account: str
    key_groups: str  # the secret in groups of four, for typing into the app


def enrollment_view(login: Login, box: SecretBox) -> EnrollmentPage:
    assert login.enrollment is not None  # noqa: S101 - callers check the status first
    uri = box.open(login.enrollment.otpauth_uri, enrollment_context(login.login_id))
    issuer, _, account = unquote(urlparse(uri).path.lstrip("/")).partition(":")
    secret = secret_of(uri)
    groups = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    svg = qr_svg(uri)
    inline = svg[svg.index("<svg") :]  # inside HTML, without the XML declaration
    return EnrollmentPage(qr_svg=inline, issuer=issuer, account=account, key_groups=groups)


def code_error(outcome: CodeOutcome | None) -> dict[str, Any]:
    """The message shown beside the code field after a refusal."""
    if outcome is None:
        return {"error": "Checking the code took too long. Try again in a moment."}
    if outcome.reason == "locked":
        return {"error": locked_message(outcome.locked_until), "kind": "locked"}
    kind, message = REFUSALS.get(outcome.reason or "invalid", REFUSALS["invalid"])
    if outcome.attempts_left is not None and kind == "invalid_code":
        plural = "attempt" if outcome.attempts_left == 1 else "attempts"
        message = f"{message} {outcome.attempts_left} {plural} left."
    return {"error": message, "kind": kind}
