"""Bearer API keys: client keys start and finish logins, admin keys manage MFA."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

Role = Literal["client", "admin"]


@dataclass(frozen=True)
class Caller:
    role: Role
    fingerprint: str  # names the key in stores and logs without revealing it


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class ApiKeys:
    def __init__(self, client_keys: Iterable[SecretStr], admin_keys: Iterable[SecretStr]) -> None:
        self._keys: list[tuple[bytes, Role]] = [
            *((_digest(k.get_secret_value()), "client") for k in client_keys),
            *((_digest(k.get_secret_value()), "admin") for k in admin_keys),
        ]

    def identify(self, presented: str) -> Caller | None:
        presented_digest = _digest(presented)
        found: Caller | None = None
        for digest, role in self._keys:  # compare with every key: timing names none
            if hmac.compare_digest(digest, presented_digest):
                found = Caller(role, digest.hex()[:16])
        return found


_bearer = HTTPBearer(auto_error=False)


def require(role: Role) -> Callable[..., Awaitable[Caller]]:
    async def caller_with_role(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> Caller:
        keys: ApiKeys = request.app.state.api_keys
        caller = keys.identify(credentials.credentials) if credentials else None
        if caller is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or unknown API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if caller.role != role:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this route needs a {role} key")
        return caller

    return caller_with_role
