"""Who a user is: an organization and a canonical user id, the same in every service.

A relying application may send ``VIP-User`` today and ``vip-user`` tomorrow, or the
same in full-width letters pasted from elsewhere: these are one person. Every service
compares users only through :func:`canonical_user_id`, so policy, enrollment,
verification and the gateway can never disagree on who someone is.

Canonical form: Unicode NFKC (compatibility forms such as full-width letters become
plain ones), case folded (``casefold``, which also maps ``ß`` to ``ss``), NFKC again
(case folding can leave text unnormalized), and trimmed. What remains must be 1 to 128
characters, each a letter, a digit, or one of ``. _ - @ +``: e-mail-like ids and
opaque ids (UUIDs, numbers) pass, while ``/ ? # %``, spaces and control characters,
which break URLs and logs, never get in.

Organization ids are short lowercase slugs (``acme``, ``imageshop-eu``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, StringConstraints

MAX_USER_ID = 128
USER_ID_PUNCTUATION: Final = frozenset("._-@+")
ORGANIZATION_ID_PATTERN: Final = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
DEFAULT_ORGANIZATION: Final = "default"  # where data from before organizations lives


class InvalidId(ValueError):
    pass


def fold(text: str) -> str:
    """NFKC, case folded, NFKC again, trimmed: how ids and e-mails are compared."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).strip()


def canonical_user_id(raw: str) -> str:
    """The one spelling of a user id that every service stores and compares."""
    canonical = fold(raw)
    if not 1 <= len(canonical) <= MAX_USER_ID:
        raise InvalidId(f"a user id has 1 to {MAX_USER_ID} characters")
    bad = sorted({c for c in canonical if not (c.isalnum() or c in USER_ID_PUNCTUATION)})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise InvalidId(f"a user id has only letters, digits and . _ - @ + (not {shown})")
    return canonical


def _is_canonical(value: str) -> str:
    if canonical_user_id(value) != value:
        raise InvalidId("not a canonical user id")
    return value


def _canonicalize(value: object) -> object:
    return canonical_user_id(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class UserRef:
    """A user: the pair (organization, canonical user id)."""

    organization_id: str
    user_id: str

    @property
    def key(self) -> str:
        """One string for the pair: the document id in every per-user collection.

        A plain string, not a sub-document, because the embedded store looks up only
        string ids through its index. Organization ids never contain ``/``, so the key
        splits back (see :meth:`from_key`).
        """
        return f"{self.organization_id}/{self.user_id}"

    @classmethod
    def from_key(cls, key: str) -> UserRef:
        organization_id, user_id = key.split("/", 1)
        return cls(organization_id, user_id)


# At the edge (HTTP bodies, forms, paths): any spelling, stored canonical.
UserIdInput = Annotated[str, BeforeValidator(_canonicalize)]
# On streams: already canonical, or the event is refused.
CanonicalUserId = Annotated[str, AfterValidator(_is_canonical)]
OrganizationId = Annotated[str, StringConstraints(pattern=ORGANIZATION_ID_PATTERN)]


def is_organization_id(value: str) -> bool:
    return re.fullmatch(ORGANIZATION_ID_PATTERN, value) is not None
