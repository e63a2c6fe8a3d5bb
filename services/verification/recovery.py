"""Recovery codes: ten one-time codes that stand in for the app, stored hashed.

A code is 10 characters from an alphabet without look-alikes (0/o, 1/l/i), shown as
``xxxxx-xxxxx``: about 49 bits each, so a guess is hopeless online (every wrong code
counts toward the lockout like a wrong TOTP code) and, with scrypt and a salt per
set, costly offline. A used code is removed in the same write that accepts it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from services.verification.domain import (
    Accepted,
    GuardState,
    LockoutRules,
    RecoveryAccepted,
    Rejected,
    count_failure,
    is_locked,
)

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 10
COUNT = 10
_SCRYPT = {"n": 2**12, "r": 8, "p": 1, "dklen": 32}  # ~13 ms on this project's bench machine


@dataclass(frozen=True)
class RecoveryCodes:
    """A set as stored: its salt and the digests of the codes not used yet."""

    salt: str
    digests: tuple[str, ...]

    @property
    def left(self) -> int:
        return len(self.digests)


def new_codes(count: int = COUNT) -> tuple[tuple[str, ...], RecoveryCodes]:
    """Codes to show the user once, and what is kept of them."""
    codes = tuple("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(count))
    salt = secrets.token_hex(16)
    shown = tuple(f"{c[:5]}-{c[5:]}" for c in codes)
    return shown, RecoveryCodes(salt, tuple(digest(c, salt) for c in codes))


def normalized(code: str) -> str:
    """What the user typed, as it was made: no spaces or dashes, lower case."""
    return "".join(ch for ch in code.lower() if ch not in " -")


def digest(code: str, salt: str) -> str:
    """Costly on purpose (scrypt): callers run it off the event loop."""
    return hashlib.scrypt(normalized(code).encode(), salt=bytes.fromhex(salt), **_SCRYPT).hex()


def check_recovery_code(
    state: GuardState,
    codes: RecoveryCodes | None,
    typed_digest: str | None,
    now: datetime,
    lockout: LockoutRules,
) -> tuple[GuardState, RecoveryCodes | None, RecoveryAccepted | Rejected]:
    """Accept a code of the set once, or count a failure like a wrong app code.

    ``typed_digest`` is the typed code's digest under the set's salt (None: nothing
    to compare, e.g. no set). A success ends the run of failures but keeps the
    replay guard of the app's codes.
    """
    if is_locked(state, now):
        return state, codes, Rejected("locked", 0, state.locked_until)
    matched = None
    for stored in codes.digests if codes and typed_digest else ():
        if hmac.compare_digest(stored, typed_digest or ""):  # no early exit
            matched = stored
    if codes is None or matched is None:
        new_state, rejected = count_failure(state, "invalid", now, lockout)
        return new_state, codes, rejected
    left = tuple(d for d in codes.digests if d != matched)
    return (
        GuardState(last_step=state.last_step),
        replace(codes, digests=left),
        RecoveryAccepted(len(left)),
    )


def confirms(
    outcome: Accepted | RecoveryAccepted | Rejected, purpose: str, recovery: RecoveryCodes | None
) -> bool:
    """An accepted enrollment code confirms the authenticator (and gets it its recovery
    codes) only while it has none: confirming is done once. Another open login that
    showed the same QR and types a code after it passes, and issues nothing."""
    return isinstance(outcome, Accepted) and purpose == "enrollment" and recovery is None
