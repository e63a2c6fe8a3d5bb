"""Headers every response carries, and the session cookie's life cycle."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from services.gateway.sessions import COOKIE, SessionStore

# No inline script or style anywhere; pages load /static only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


# Browsers that reached us over TLS keep using it for a year, subdomains included.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
_LOGIN_IN_PATH = re.compile(r"/(mfa|v1/logins)/[^/?#\s]+")


class HostedPageIdsRedacted(logging.Filter):
    """Keep login ids out of the access log: whoever holds one first can open the login's
    hosted page /mfa/{login_id} (and its QR code). Paths stay readable: /mfa/[login]."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LOGIN_IN_PATH.sub(r"/\1/[login]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def install(app: FastAPI, sessions: SessionStore, secure_cookies: bool) -> None:
    @app.middleware("http")
    async def security_and_session(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        session = getattr(request.state, "session", None)
        if session is not None:
            await sessions.save(session)
        token = getattr(request.state, "session_token", None)
        if token and session is not None:
            response.set_cookie(
                COOKIE,
                token,
                max_age=int(sessions.ttl.total_seconds()),
                httponly=True,
                samesite="lax",
                secure=secure_cookies,
                path="/",
            )
        if getattr(request.state, "clear_session", False):
            response.delete_cookie(
                COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies
            )
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # /mfa/{login_id} must not leak to other sites through the Referer header.
        headers["Referrer-Policy"] = "no-referrer"
        if request.url.scheme == "https":  # directly, or from a trusted proxy's X-Forwarded-Proto
            headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
        if response.headers.get("content-type", "").startswith(("text/html", "application/json")):
            headers["Cache-Control"] = "no-store"
        return response
