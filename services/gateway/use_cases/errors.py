"""What a use case refuses, and why: exceptions the JSON API and the pages turn into
their own answers (api/errors.py, the pages' messages)."""

from __future__ import annotations

from typing import Literal

from services.gateway.domain.snapshots import PolicySnapshot


class LoginNotFound(Exception):
    pass


class OpenElsewhere(Exception):
    """The hosted page of this login was opened by another browser first."""


class LoginExpired(Exception):
    pass


class NotWaitingForCode(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class TooManyCodes(Exception):
    """Codes come faster than a person types them: from one client, or for one login."""

    def __init__(self, per: Literal["client", "login"]) -> None:
        super().__init__(per)
        self.per = per


class PolicyConflict(Exception):
    """The policy changed since the version the editor saw; nothing was saved."""

    def __init__(self, message: str, current: PolicySnapshot) -> None:
        super().__init__(message)
        self.message = message
        self.current = current


class Refused(Exception):
    """A request this login (or organization) does not allow now; says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotAppliedInTime(Exception):
    """An admin change was published but not every owning service confirmed it yet."""

    def __init__(self, waiting_for: set[str]) -> None:
        super().__init__(", ".join(sorted(waiting_for)))
        self.waiting_for = waiting_for


class PasskeyNotFound(Exception):
    """The user holds no passkey of this id (in this organization)."""
