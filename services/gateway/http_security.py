"""Headers every response carries, and the session cookie's life cycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from services.gateway.sessions import COOKIE, SessionStore

# No inline script or style anywhere; pages load /static only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


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
        if response.headers.get("content-type", "").startswith(("text/html", "application/json")):
            headers["Cache-Control"] = "no-store"
        return response
