"""Enrollment rules: when to offer a QR code, and what it encodes. No I/O."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal
from urllib.parse import quote, urlencode

from shared.identity import UserRef

# RFC 6238 parameters every mainstream authenticator app accepts.
ALGORITHM: Literal["SHA1"] = "SHA1"
DIGITS: Literal[6] = 6
PERIOD: Literal[30] = 30


@dataclass(frozen=True)
class Credential:
    """A user's authenticator as the enrollment service knows it (secret kept aside)."""

    user: UserRef
    credential_id: str
    account: str  # the label the app shows: the user's e-mail when it was issued
    created_at: datetime
    offer_expires_at: datetime  # a pending credential is offered until then
    confirmed_at: datetime | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class Next(Enum):
    ASK_FOR_CODE = "ask_for_code"  # confirmed: later logins show no QR
    SHOW_PENDING = "show_pending"  # same QR again, so a half-finished scan still works
    ISSUE_NEW = "issue_new"


def next_step(current: Credential | None, now: datetime) -> Next:
    if current is None:
        return Next.ISSUE_NEW
    if current.confirmed:
        return Next.ASK_FOR_CODE
    if now < current.offer_expires_at:
        return Next.SHOW_PENDING
    return Next.ISSUE_NEW


def new_secret() -> str:
    """160 bits from the OS's CSPRNG (RFC 4226's recommended length): 32 base32 characters."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def new_credential(user: UserRef, account: str, now: datetime, offer_ttl: timedelta) -> Credential:
    return Credential(
        user=user,
        credential_id=secrets.token_hex(16),
        account=account,
        created_at=now,
        offer_expires_at=now + offer_ttl,
    )


def otpauth_uri(secret: str, issuer: str, account: str) -> str:
    """The Key URI Format of Google Authenticator, with every parameter spelled out."""
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": ALGORITHM,
            "digits": DIGITS,
            "period": PERIOD,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
