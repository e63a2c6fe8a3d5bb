"""The QR code of an otpauth URI, and the secret it carries: shown by the API and the
hosted pages alike."""

from __future__ import annotations

import functools
import io
from urllib.parse import parse_qs, urlparse

import segno


# Clients poll a pending login and encoding is the costly part; kept small because
# every cached URI holds a secret in memory.
@functools.lru_cache(maxsize=64)
def qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        out,
        kind="svg",
        scale=5,
        border=4,
        light="#fff",
        omitsize=True,
        title="Authenticator QR code",
    )
    return out.getvalue().decode()


def secret_of(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]
