from __future__ import annotations

import ipaddress
from typing import Annotated, ClassVar

from limits import parse
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.settings import PasskeyDefaults

DEV_CLIENT_KEY = "dev-client-key"
DEV_ADMIN_KEY = "dev-admin-key"
DEV_OPERATOR_KEY = "dev-operator-key"
DEV_KEYS = frozenset({DEV_CLIENT_KEY, DEV_ADMIN_KEY, DEV_OPERATOR_KEY})
MIN_PRODUCTION_KEY_LENGTH = 32
MAX_WAIT_SECONDS = 60  # what a client may ask for; MFA_MAX_WAIT_SECONDS caps it lower

ApiKeys = Annotated[tuple[SecretStr, ...], NoDecode]


class GatewaySettings(PasskeyDefaults):
    service_name: ClassVar[str] = "gateway"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    client_api_keys: ApiKeys = Field(default=(SecretStr(DEV_CLIENT_KEY),), min_length=1)
    admin_api_keys: ApiKeys = Field(default=(SecretStr(DEV_ADMIN_KEY),), min_length=1)
    # Platform operators: create organizations, issue and revoke their keys.
    operator_api_keys: ApiKeys = Field(default=(SecretStr(DEV_OPERATOR_KEY),))
    login_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    # A first sign-in installs an app and scans a QR: more time than typing a code (issue 23).
    enrollment_ttl_seconds: int = Field(
        default=900, ge=60, le=3600, description="How long a sign-in that sets up MFA stays open"
    )
    code_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    admin_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    import_timeout_seconds: float = Field(
        default=60, gt=0, le=600, description="How long applying an import waits for enrollment"
    )
    max_wait_seconds: float = Field(
        default=30.0, gt=0, le=MAX_WAIT_SECONDS, description="a GET of a login waits at most this"
    )
    sweep_interval_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="how often expired documents are deleted"
    )
    # Proxies (CIDRs) whose X-Forwarded-For and X-Forwarded-Proto are believed: the
    # client's address for rate limits, and https for HSTS and Secure cookies. Empty:
    # the peer is the client (nothing in front, or nothing trusted).
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # Hosted pages
    session_ttl_seconds: int = Field(default=8 * 3600, ge=300)
    cookie_secure: bool | None = Field(
        default=None, description="Secure cookies; default: on in production (HTTPS)"
    )
    admin_user_types: Annotated[tuple[str, ...], NoDecode] = ("admin",)
    signin_limit_per_account: str = "10/15 minutes"
    signin_limit_per_address: str = "60/15 minutes"
    # Code submissions: per API key (or browser), and per login over its life.
    code_limit_per_client: str = "600/minute"
    max_codes_per_login: int = Field(default=10, ge=1, le=100)

    @field_validator(
        "client_api_keys", "admin_api_keys", "operator_api_keys", "admin_user_types", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            return value
        try:
            return tuple(str(ipaddress.ip_network(str(v), strict=False)) for v in value)
        except ValueError:
            raise ValueError(
                "list the proxies as addresses or CIDRs, e.g. '10.0.0.0/8,192.168.1.5'"
            ) from None

    @field_validator(
        "signin_limit_per_account", "signin_limit_per_address", "code_limit_per_client"
    )
    @classmethod
    def _a_rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError("write a rate like '10/15 minutes' or '600/minute'") from None
        return value

    @property
    def secure_cookies(self) -> bool:
        return self.env == "production" if self.cookie_secure is None else self.cookie_secure

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        for name, keys in (
            ("MFA_CLIENT_API_KEYS", self.client_api_keys),
            ("MFA_ADMIN_API_KEYS", self.admin_api_keys),
            ("MFA_OPERATOR_API_KEYS", self.operator_api_keys),
        ):
            values = [k.get_secret_value() for k in keys]
            if DEV_KEYS & set(values):
                problems.append(f"{name} still holds a development key")
            if any(len(v) < MIN_PRODUCTION_KEY_LENGTH for v in values):
                problems.append(
                    f"{name}: keys must be at least {MIN_PRODUCTION_KEY_LENGTH} characters"
                )
        return problems
