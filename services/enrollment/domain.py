"""Enrollment rules: when to offer a QR code or a passkey registration, and what a QR
encodes. No I/O."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from urllib.parse import quote, urlencode

from shared.events import AuthenticatorKind, Passkey, RelyingParty, TotpParameters
from shared.identity import UserRef
from shared.passkeys import Challenge

# Passkeys a user may hold: a phone, a laptop, a security key or two, and spares.
MAX_PASSKEYS = 10


@dataclass(frozen=True)
class Credential:
    """A user's authenticator as the enrollment service knows it (secret kept aside)."""

    user: UserRef
    credential_id: str
    account: str  # the label the app shows: the user's e-mail when it was issued
    created_at: datetime
    offer_expires_at: datetime  # a pending credential is offered until then
    confirmed_at: datetime | None = None
    # Imported to be confirmed at first use: never offered as a QR, its first accepted
    # code confirms it (as a scanned QR's first code does).
    first_use: bool = False
    totp: bool = True  # holds an app's secret (pending, or confirmed with the anchor)
    parameters: TotpParameters = field(default_factory=TotpParameters)  # its codes
    passkeys: tuple[Passkey, ...] = ()  # registered, oldest first
    registrations: tuple[Challenge, ...] = ()  # open passkey registrations, by login
    submissions: Mapping[str, str] = field(default_factory=dict)  # submission -> passkey id
    # Where the user's passkeys were made (its ID and origins): where they keep working
    # if the organization's policy later names no relying party.
    party: RelyingParty | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def awaiting_first_use(self) -> bool:
        return self.first_use and not self.confirmed

    @property
    def pending(self) -> bool:
        """Offered for registration (a QR, a passkey), not yet confirmed."""
        return not (self.confirmed or self.awaiting_first_use)

    def kinds(self) -> tuple[AuthenticatorKind, ...]:
        """What the user holds and may sign in with (confirmed only)."""
        if not self.confirmed:
            return ()
        passkey: tuple[AuthenticatorKind, ...] = ("passkey",) if self.passkeys else ()
        totp: tuple[AuthenticatorKind, ...] = ("totp",) if self.totp else ()
        return passkey + totp

    def registration(self, login_id: str) -> Challenge | None:
        return next((c for c in self.registrations if c.login_id == login_id), None)

    def registered_by(self, submission_id: str) -> Passkey | None:
        """The passkey a submission registered: a redelivered one is answered the same."""
        passkey_id = self.submissions.get(submission_id)
        return next((p for p in self.passkeys if p.id == passkey_id), None)


class Next(Enum):
    ASK_FOR_CODE = "ask_for_code"  # confirmed: later logins show no QR
    SHOW_PENDING = "show_pending"  # same QR again, so a half-finished scan still works
    ISSUE_NEW = "issue_new"


def next_step(current: Credential | None, now: datetime, wants_totp: bool = True) -> Next:
    if current is None:
        return Next.ISSUE_NEW
    if not current.pending:
        return Next.ASK_FOR_CODE
    if now < current.offer_expires_at and (current.totp or not wants_totp):
        return Next.SHOW_PENDING
    return Next.ISSUE_NEW


def offered_kinds(
    allowed: tuple[AuthenticatorKind, ...], party: RelyingParty | None
) -> tuple[AuthenticatorKind, ...]:
    """What a user without an authenticator may register: what the policy allows, a
    passkey only where the organization has a relying party."""
    usable = tuple(k for k in allowed if k == "totp" or party is not None)
    return usable or ("totp",)


def kinds_for_login(
    held: tuple[AuthenticatorKind, ...], allowed: tuple[AuthenticatorKind, ...]
) -> tuple[AuthenticatorKind, ...]:
    """What a login of an enrolled user asks for: what they hold, but only the passkey
    when the policy requires one and they have one (never the phishable code then)."""
    if allowed == ("passkey",) and "passkey" in held:
        return ("passkey",)
    return held


def may_add_passkey(credential: Credential) -> bool:
    return len(credential.passkeys) < MAX_PASSKEYS


def new_secret() -> str:
    """160 bits from the OS's CSPRNG (RFC 4226's recommended length): 32 base32 characters."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def new_credential(
    user: UserRef,
    account: str,
    now: datetime,
    offer_ttl: timedelta,
    totp: bool = True,
    parameters: TotpParameters | None = None,
) -> Credential:
    return Credential(
        user=user,
        credential_id=secrets.token_hex(16),
        account=account,
        created_at=now,
        offer_expires_at=now + offer_ttl,
        totp=totp,
        parameters=parameters or TotpParameters(),
    )


def otpauth_uri(
    secret: str, issuer: str, account: str, parameters: TotpParameters | None = None
) -> str:
    """The Key URI Format of Google Authenticator, with every parameter spelled out."""
    codes = parameters or TotpParameters()
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": codes.algorithm,
            "digits": codes.digits,
            "period": codes.period,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
