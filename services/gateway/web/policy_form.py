"""The console policy form's authenticator settings: which kinds users may register,
who must use a passkey, user verification, the organization's relying party, and the
codes of new app secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form

from shared.events import RelyingParty


@dataclass(frozen=True)
class PasskeyForm:
    """As typed. ``shown``: the form had these fields (a form without them, from a page
    older than passkeys, keeps the policy's passkey settings as they are)."""

    shown: bool
    allowed_kinds: list[str]
    require_passkey_all_users: bool
    require_passkey_user_types: list[str]
    user_verification: str
    rp_id: str
    origins: str  # one per line
    totp: dict[str, Any]  # algorithm, digits, period of new app secrets

    def fields(self, current: RelyingParty | None) -> dict[str, Any]:
        """The policy's passkey fields from the form; the relying party's name, which the
        form does not show, stays the current one."""
        if not self.shown:
            return {}
        origins = [o.strip() for o in self.origins.splitlines() if o.strip()]
        rp_id = self.rp_id.strip().lower()
        name = current.name if current else ""
        return {
            "allowed_kinds": self.allowed_kinds,
            "require_passkey_all_users": self.require_passkey_all_users,
            "require_passkey_user_types": self.require_passkey_user_types,
            "user_verification": self.user_verification,
            "relying_party": {"id": rp_id, "name": name, "origins": origins} if rp_id else None,
            "totp": self.totp,
        }


async def passkey_form(
    passkey_settings: Annotated[bool, Form()] = False,
    allowed_kinds: Annotated[list[str], Form()] = [],  # noqa: B006
    require_passkey_all_users: Annotated[bool, Form()] = False,
    require_passkey_user_types: Annotated[list[str], Form()] = [],  # noqa: B006
    user_verification: Annotated[str, Form(max_length=16)] = "preferred",
    rp_id: Annotated[str, Form(max_length=253)] = "",
    origins: Annotated[str, Form(max_length=3000)] = "",
    totp_algorithm: Annotated[str, Form(max_length=8)] = "SHA1",
    totp_digits: Annotated[int, Form()] = 6,
    totp_period: Annotated[int, Form()] = 30,
) -> PasskeyForm:
    return PasskeyForm(
        passkey_settings,
        allowed_kinds,
        require_passkey_all_users,
        require_passkey_user_types,
        user_verification,
        rp_id,
        origins,
        {"algorithm": totp_algorithm, "digits": totp_digits, "period": totp_period},
    )
