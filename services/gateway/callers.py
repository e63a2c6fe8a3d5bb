"""API keys and who presents them. Each belongs to one organization and has a role:

- ``client``: start logins and submit codes for the organization's users;
- ``admin``: the organization's policy, resets, look-ups and audit;
- ``operator`` (configured, no organization): create organizations and manage their keys.

Keys issued through the operator API live in the gateway's database
(services.gateway.keys). Keys set in configuration (MFA_CLIENT_API_KEYS,
MFA_ADMIN_API_KEYS) belong to the default organization, which keeps existing
deployments and the development keys working.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from services.gateway.keys import KeyStore
from shared.clock import Clock
from shared.identity import DEFAULT_ORGANIZATION

Role = Literal["client", "admin", "operator"]


@dataclass(frozen=True)
class Caller:
    role: Role
    organization_id: str  # empty for operators, who belong to none
    key_id: str  # names the key in stores, audit and logs without revealing it

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _configured_id(digest: bytes) -> str:
    return f"config-{digest.hex()[:12]}"


class ConfiguredKeys:
    def __init__(self, keys: Iterable[tuple[SecretStr, Role]]) -> None:
        self._keys = [(_digest(k.get_secret_value()), role) for k, role in keys]
        self.ids = frozenset(_configured_id(digest) for digest, _ in self._keys)

    def identify(self, presented: str) -> Caller | None:
        presented_digest = _digest(presented)
        found: Caller | None = None
        for digest, role in self._keys:  # compare with every key: timing names none
            if hmac.compare_digest(digest, presented_digest):
                organization = "" if role == "operator" else DEFAULT_ORGANIZATION
                found = Caller(role, organization, _configured_id(digest))
        return found


@dataclass(frozen=True)
class ApiKeys:
    configured: ConfiguredKeys
    issued: KeyStore
    clock: Clock

    async def identify(self, presented: str) -> Caller | None:
        caller = self.configured.identify(presented)
        if caller is not None:
            return caller
        key = await self.issued.identify(presented, self.clock.now())
        return None if key is None else Caller(key.role, key.organization_id, key.key_id)

    async def still_valid(self, key_id: str) -> bool:
        """Whether a key that was presented earlier (a console session's) still works."""
        return key_id in self.configured.ids or await self.issued.is_live(key_id)
