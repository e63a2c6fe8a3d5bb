"""The HTTP edge, before any route: API credentials are checked before a body is read.

FastAPI reads and parses a request's body before it resolves dependencies, so a key
checked in a dependency comes too late: a client without a key could still make the
gateway read the largest body the cap allows. This pure ASGI layer refuses an API
write without a valid key first; body sizes are capped by FastAPI itself
(``max_body_size``, see app.py).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp as App
from starlette.types import Receive, Scope, Send

from services.gateway.stores.api_keys import ApiKeys

BODY_LIMIT = 64 * 1024  # every body, API and forms
POLICY_BODY_LIMIT = 1024 * 1024  # a policy may list thousands of users
_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


async def _unauthorized(send: Send) -> None:
    body = json.dumps(
        {"error": {"code": "unauthorized", "message": "missing, unknown or revoked API key"}}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b"Bearer"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Edge:
    def __init__(self, app: App, api_keys: ApiKeys) -> None:
        self.app = app
        self.api_keys = api_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in _WITH_BODY
            and scope["path"].startswith("/v1/")
        ):
            presented = _bearer(scope)
            caller = await self.api_keys.identify(presented) if presented else None
            if caller is None:
                await _unauthorized(send)
                return
            scope.setdefault("state", {})["caller"] = caller  # the route's check reuses it
        await self.app(scope, receive, send)
