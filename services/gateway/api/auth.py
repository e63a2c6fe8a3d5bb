"""The API's bearer authentication: a route names the role its caller needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.state import gateway_state
from services.gateway.stores.api_keys import Caller, Role

_bearer = HTTPBearer(auto_error=False)


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
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing, unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if caller.role != role:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this route needs a {role} key")
        return caller

    return caller_with_role
