"""A passkey's answer as clients send it: the browser's PublicKeyCredential JSON, checked
for shape and size at the edge (its contents are checked by the services, by
py_webauthn), and sent on in one compact spelling."""

from __future__ import annotations

import json
from typing import Any

# Characters of compact JSON: with attestation "none", a registration is about 1 KB.
MAX_PASSKEY_ANSWER = 12_000


def compact(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def parsed_answer(text: str) -> dict[str, Any]:
    """A credential sent as JSON text (the hosted pages' form field); ValueError if it is
    not one, however it fails (malformed, or nested deeper than the parser goes)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return checked_answer(value)


def checked_answer(value: Any) -> dict[str, Any]:
    """The credential, if it has a PublicKeyCredential's shape; ValueError otherwise."""
    if not isinstance(value, dict):
        raise ValueError("a PublicKeyCredential's JSON is an object")
    try:
        spelled = compact(value)
    except RecursionError:  # a body parsed, but nested past what can be written again
        raise ValueError("nested too deeply") from None
    if len(spelled) > MAX_PASSKEY_ANSWER:
        raise ValueError(f"a credential of at most {MAX_PASSKEY_ANSWER} characters")
    if not isinstance(value.get("rawId"), str) or not isinstance(value.get("response"), dict):
        raise ValueError("a PublicKeyCredential's JSON has rawId and response")
    return value
