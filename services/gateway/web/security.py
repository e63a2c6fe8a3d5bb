"""Headers every response carries, and the session cookie's life cycle."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp as App
from starlette.types import Message, Receive, Scope, Send

from services.gateway.web.sessions import COOKIE, SessionStore

# No inline script or style anywhere; pages load /static only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


# Browsers that reached us over TLS keep using it for a year, subdomains included.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


class SecurityHeadersAndSession:
    """Every response's security headers, and the session saved and its cookie set as the
    response starts. Pure ASGI: Starlette's ``BaseHTTPMiddleware`` ran each request's
    route in a task of its own behind memory streams, a measured cost on every call."""

    def __init__(self, app: App, sessions: SessionStore, secure_cookies: bool) -> None:
        self.app = app
        self.sessions = sessions
        self.secure_cookies = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._secure(scope, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_secured)

    async def _secure(self, scope: Scope, headers: MutableHeaders) -> None:
        state = scope.get("state", {})  # what the route left in request.state
        session, token = state.get("session"), state.get("session_token")
        if session is not None:
            await self.sessions.save(session)
        cookies = Response()  # Starlette's own cookie formatting
        if token and session is not None:
            max_age = int(self.sessions.ttl.total_seconds())
            cookies.set_cookie(COOKIE, token, max_age, **self._cookie_flags())
        if state.get("clear_session", False):
            cookies.delete_cookie(COOKIE, **self._cookie_flags())
        for name, value in cookies.raw_headers:
            if name == b"set-cookie":
                headers.append("set-cookie", value.decode("latin-1"))
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # /mfa/{login_id} must not leak to other sites through the Referer header.
        headers["Referrer-Policy"] = "no-referrer"
        if scope.get("scheme") == "https":  # directly, or from a trusted proxy's X-Forwarded-Proto
            headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
        if not scope.get("path", "").startswith("/static/"):
            # Pages, API answers, CSV exports, metrics: nothing but the stylesheet and
            # scripts may sit in a browser's or a proxy's cache.
            headers["Cache-Control"] = "no-store"

    def _cookie_flags(self) -> dict[str, Any]:
        return {"path": "/", "httponly": True, "samesite": "lax", "secure": self.secure_cookies}
