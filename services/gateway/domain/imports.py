"""Bringing existing authenticators across (issue 21): pure rules over an import's rows.

A row names a user and a secret with its codes' parameters. Each row gets one outcome,
in a dry run and again when applied; applying refuses unless every outcome is what the
dry run showed (the plan id is their digest). Secrets never appear in an outcome: a row
is told apart from another by a keyed fingerprint of its secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from services.gateway.domain.snapshots import AuthenticatorRecord

MAX_ROWS = 1_000  # per request: each row is an event and a write in two services
MIN_SECRET_BITS = 128  # RFC 4226 section 4 asks for 128 (160 recommended)
Outcome = Literal[
    "import",  # will be imported (applied: imported)
    "replace",  # the user's authenticator will be replaced (on_existing=replace)
    "unchanged",  # this very secret is the user's already: a replayed file
    "has_authenticator",  # skipped: the user holds one (on_existing=skip)
    "bad_secret",
    "unsupported",
    "unknown_user",
    "duplicate_user",  # a user named twice in the file: neither row is imported
    "duplicate_secret",  # one secret on two rows: it would let one user in as the other
]
IMPORTED: tuple[Outcome, ...] = ("import", "replace")


MAX_UPLOAD_BYTES = 1024 * 1024  # a file and its mapping, in one request


class MalformedFile(ValueError):
    """The file cannot be read as its format: ``row`` says where (1 is the first line)."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(f"row {row}: {message}")
        self.row = row
        self.message = message


@dataclass(frozen=True)
class OtpSecret:
    """A secret as a file gives it, with its codes' parameters; kept in clear only
    until the use case seals it."""

    secret: bytes = b""
    otp_type: Literal["totp", "hotp"] = "totp"
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30
    counter: int | None = None

    @property
    def settings(self) -> str:
        """Everything but the secret: what a plan promises besides which secret."""
        return f"{self.otp_type}/{self.algorithm}/{self.digits}/{self.period}/{self.counter}"

    @property
    def base32(self) -> str:
        return base64.b32encode(self.secret).decode().rstrip("=")


@dataclass(frozen=True)
class Row:
    row: int
    user_id: str  # as the file gives it (made canonical by the use case)
    email: str
    otp: OtpSecret | None  # None: the secret or its parameters could not be read
    problem: str = ""  # why otp is None, or a warning
    # True: the file names a user id; False: an account name or a serial, which the
    # import's mapping, or the users MFA has seen (by id or e-mail), turn into one.
    names_user: bool = True


@dataclass(frozen=True)
class Planned:
    row: int
    user_id: str
    outcome: Outcome
    detail: str
    fingerprint: str  # of the secret (keyed): which secret, never the secret

    @property
    def shown_user(self) -> str:
        return shown_name(self.user_id)


def fingerprint(key: bytes, organization_id: str, user_id: str, otp: OtpSecret) -> str:
    """The same secret with the same settings for the same user, in any file: the same
    24 hex characters (changed settings are another credential, imported anew)."""
    message = f"{organization_id}\0{user_id}\0{otp.settings}\0".encode() + otp.secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


def secret_mark(key: bytes, organization_id: str, otp: OtpSecret) -> str:
    """The same secret, whoever a row names: two rows sharing one are refused."""
    return fingerprint(key, organization_id, "", otp)


# A name that is not a user id, or is one only in form (long hex or base32: a column
# out of place may be a secret), is shown by its start and length only.
_SECRET_LIKE = re.compile(r"^(?:[0-9A-Fa-f]{16,}|[A-Z2-7]{16,}=*)$")
_NAME = re.compile(r"^[\w.@+-]{1,128}$")


def shown_name(name: str) -> str:
    """A row's name as a report may show it: never what could be a secret."""
    if _NAME.match(name) and not _SECRET_LIKE.match(name):
        return name
    return f"{name[:3]}… ({len(name)} characters, hidden)" if name else ""


def outcome_of(
    row: Row,
    held: AuthenticatorRecord | None,
    imported_as: str,
    replace: bool,
    allow_short: bool,
) -> tuple[Outcome, str]:
    """What applying this row does. ``imported_as``: the credential id it would make
    (so a held one of that id is this very secret, imported before)."""
    if row.otp is None:
        outcome: Outcome = "unsupported" if "supported" in row.problem else "bad_secret"
        return outcome, row.problem
    bits = len(row.otp.secret) * 8
    if bits < MIN_SECRET_BITS and not allow_short:
        return "bad_secret", f"{bits}-bit secret: under {MIN_SECRET_BITS} (allow_short_secrets)"
    warning = f"warning: a {bits}-bit secret" if bits < MIN_SECRET_BITS else ""
    if held is not None and held.credential_id == imported_as:
        return "unchanged", "imported before"
    if held is not None and held.confirmed_at is not None:
        if not replace:
            return "has_authenticator", "the user has an authenticator (on_existing=skip)"
        return "replace", warning
    return "import", warning


def plan_id(organization_id: str, planned: list[Planned], confirm: str = "now") -> str:
    """The digest of every row's outcome, and of how they are confirmed: apply refuses
    a file whose plan changed."""
    lines = [organization_id, confirm] + [
        f"{p.row}\0{p.user_id}\0{p.outcome}\0{p.fingerprint}" for p in planned
    ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]
