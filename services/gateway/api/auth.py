"""The API's bearer authentication: a route names the role its caller needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.state import gateway_state
from services.gateway.stores.api_keys import Caller, Role

_bearer = HTTPBearer(auto_error=False)
log = structlog.get_logger("mfa.gateway.auth")


def require(role: Role) -> Callable[..., Awaitable[Caller]]:
    async def caller_with_role(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> Caller:
        keys = gateway_state(request).api_keys
        caller: Caller | None = getattr(request.state, "caller", None)  # the edge's check
        if caller is None and credentials is not None:
            caller = await keys.identify(credentials.credentials)
        if caller is None:
            route = getattr(request.scope.get("route"), "path", "")  # a template: no ids
            log.warning("api_key_refused", route=route, needed=role)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing, unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.caller = caller  # the access line names its organization
        if caller.role != role:
            log.warning("api_key_role_refused", key_id=caller.key_id, role=caller.role, needed=role)
            article = "an" if role[0] in "aeiou" else "a"
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this route needs {article} {role} key")
        return caller

    return caller_with_role
