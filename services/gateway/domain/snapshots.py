"""What the gateway knows of an organization's policy and a user's authenticator (from
events, in its read models), as the frozen values flows, rules and routes work with:
never the stored documents themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.events import PolicyRules


@dataclass(frozen=True)
class PolicySnapshot:
    """One version of an organization's policy (version 0: none was ever saved)."""

    rules: PolicyRules
    version: int
    updated_at: datetime | None
    requested_by: str | None = None  # who saved it, for the version history

    def fields(self) -> dict[str, Any]:
        """The rules with their version, as the API and the console show them."""
        return {**self.rules.model_dump(), "version": self.version, "updated_at": self.updated_at}


NO_POLICY = PolicySnapshot(PolicyRules(), 0, None)


@dataclass(frozen=True)
class PasskeyRecord:
    passkey_id: str  # base64url
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


# An imported credential's id: the prefix, then the row's keyed fingerprint (an
# enrollment's ids are hex, so never start with it).
IMPORTED_PREFIX = "imp"
Source = Literal["enrolled", "imported"]


@dataclass(frozen=True)
class AuthenticatorRecord:
    """A user's authenticator as the gateway knows it from events: an app's secret,
    passkeys, or both."""

    credential_id: str
    created_at: datetime | None
    confirmed_at: datetime | None
    locked_until: datetime | None = None
    recovery_codes_left: int | None = None
    step_offset: int | None = None  # the last accepted app code's drift, in steps
    totp: bool = False  # an app's secret, confirmed
    passkeys: tuple[PasskeyRecord, ...] = ()  # oldest first

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    @property
    def source(self) -> Source:
        """Registered at a login (a QR, a passkey), or brought in by an import."""
        return "imported" if self.credential_id.startswith(IMPORTED_PREFIX) else "enrolled"

    @property
    def kinds(self) -> tuple[Literal["passkey", "totp"], ...]:
        passkey: tuple[Literal["passkey"], ...] = ("passkey",) if self.passkeys else ()
        return passkey + (("totp",) if self.totp else ())

    def may_remove(self, passkey_ids: set[str], passkey_required: bool = False) -> bool:
        """Removing these passkeys leaves the user an authenticator they may use: a
        passkey, if the policy requires one of them (an app's code would not do), else
        a passkey or the app. The last one goes by a reset, which starts over."""
        left = any(p.passkey_id not in passkey_ids for p in self.passkeys)
        return left or (self.totp and not passkey_required)
