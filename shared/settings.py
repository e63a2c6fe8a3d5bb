"""Settings every service reads (environment variables prefixed ``MFA_``)."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.crypto import Keyring, KeyringError
from shared.events import RelyingParty

# A fixed, public key so a development stack works with no configuration.
# Production refuses it (see ``_refuse_weak_defaults``).
DEV_KEY_BYTES = b"imageshop-mfa-dev-key-not-secret"
DEV_ENCRYPTION_KEYS = "dev:" + base64.b64encode(DEV_KEY_BYTES).decode()


def _default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MFA_", extra="ignore", frozen=True, populate_by_name=True
    )

    service_name: ClassVar[str]

    env: Literal["development", "production"] = "development"
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    mongodb_url: SecretStr = Field(
        default=SecretStr("mongodb://127.0.0.1:27017"),
        validation_alias=AliasChoices("MFA_MONGODB_URL", "MONGODB_URL"),
    )
    database_prefix: str = Field(default="mfa_", pattern=r"^[A-Za-z0-9_]{1,40}$")
    stream_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_.:-]{0,64}$")
    stream_maxlen: int = Field(default=100_000, ge=1000)
    stream_retention_seconds: int = Field(
        default=60, ge=1, description="how long entries every group is done with are kept"
    )
    consumer_name: str = Field(default_factory=_default_consumer_name, min_length=1)
    concurrency: int = Field(default=8, ge=1, le=256, description="messages in flight per stream")
    batch_size: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Entries a batched consumer takes per XREADGROUP (handled together)",
    )
    reclaim_idle_ms: int = Field(default=30_000, ge=1000)
    heartbeat_seconds: float = Field(default=1.0, gt=0, le=10)
    encryption_keys: SecretStr = SecretStr(DEV_ENCRYPTION_KEYS)
    clock_offset_file: Path | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Prometheus endpoint of a stream service"
    )
    otlp_traces_endpoint: AnyHttpUrl | None = Field(
        default=None, description="OTLP/HTTP traces endpoint (http://collector:4318/v1/traces)"
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def database(self) -> str:
        return f"{self.database_prefix}{self.service_name}"

    @property
    def keyring(self) -> Keyring:
        return Keyring.parse(self.encryption_keys.get_secret_value())

    def stream(self, name: str) -> str:
        return f"{self.stream_prefix}{name}"

    @model_validator(mode="after")
    def _check_keyring(self) -> ServiceSettings:
        try:
            self.keyring  # noqa: B018 - parsing is the check
        except KeyringError as exc:
            raise ValueError(f"MFA_ENCRYPTION_KEYS: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _refuse_weak_defaults(self) -> ServiceSettings:
        if self.env != "production":
            return self
        problems = self.production_problems()
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        problems = []
        if DEV_KEY_BYTES in self.keyring.keys.values():  # under whatever key id
            problems.append("MFA_ENCRYPTION_KEYS still holds the development key")
        if self.clock_offset_file is not None:
            problems.append("MFA_CLOCK_OFFSET_FILE is a test seam")
        if not urlparse(self.redis_url.get_secret_value()).password:
            problems.append("MFA_REDIS_URL has no password (each service has its own Redis user)")
        return problems


class PasskeyDefaults(ServiceSettings):
    """The relying party of organizations whose policy names none (docs/passkeys.md):
    unset, passkeys are offered only where an organization sets its own. Read by the
    policy service (for sign-ins) and the gateway (for passkeys added later)."""

    webauthn_rp_id: str | None = Field(
        default=None, description="A registrable domain (never an IP address), e.g. example.com"
    )
    webauthn_origins: tuple[str, ...] = Field(
        default=(), description="Where sign-in pages are served, e.g. https://login.example.com"
    )

    def relying_party(self) -> RelyingParty | None:
        if self.webauthn_rp_id is None:
            return None
        origins = self.webauthn_origins or (f"https://{self.webauthn_rp_id}",)
        return RelyingParty(id=self.webauthn_rp_id, origins=origins)

    @model_validator(mode="after")
    def _relying_party_valid(self) -> PasskeyDefaults:
        self.relying_party()  # a bad RP ID or origin is refused at start, by its rules
        return self

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        party = self.relying_party()
        if party is not None and (
            party.id == "localhost" or any(not o.startswith("https://") for o in party.origins)
        ):
            problems.append("MFA_WEBAUTHN_RP_ID/ORIGINS: localhost or plain http in production")
        return problems
