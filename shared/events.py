"""The event contract: one frozen pydantic model per stream.

Rules for change: add optional fields, never rename or remove; bump
``schema_version`` when meaning changes. Models refuse unknown fields, so
consumers are deployed before the producers that start sending a new field.

Version 2 (organizations): every event about users or policy names its
organization, and user ids are canonical (shared.identity). A version 1 event,
written before organizations existed, is read as the default organization's, with
its user id made canonical.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.crypto import Sealed
from shared.identity import (
    DEFAULT_ORGANIZATION,
    CanonicalUserId,
    InvalidId,
    OrganizationId,
    UserRef,
    canonical_user_id,
)

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
# Who asked for an admin change: "key:<key id>", or "user:<e-mail>" for a console user
# (an e-mail takes up to 254 characters).
Actor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Issuer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
UserType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

DecisionReason = Literal["all_users", "user_type", "user", "required_by_caller", "not_applicable"]
CodePurpose = Literal["enrollment", "login"]
RejectReason = Literal["invalid", "expired", "reused", "locked"]
CodeKind = Literal["totp", "recovery_code"]
NoticeKind = Literal[
    "authenticator_confirmed",
    "recovery_code_used",
    "authenticator_reset",
    "locked",
    "recovery_codes_issued",
    "device_remembered",
]


class Event(BaseModel):
    """Envelope shared by every event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime
    correlation_id: Identifier = Field(
        description="The login id for login events, the admin operation id otherwise"
    )


class OrganizationEvent(Event):
    """An event of one organization: its users' logins and codes, its policy."""

    schema_version: Literal[1, 2] = 2  # type: ignore[assignment]
    organization_id: OrganizationId

    @model_validator(mode="before")
    @classmethod
    def _from_before_organizations(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("schema_version") != 1:
            return data
        upgraded = {"organization_id": DEFAULT_ORGANIZATION, **data}
        if isinstance(upgraded.get("user_id"), str):
            with contextlib.suppress(InvalidId):  # else refused below, like any bad id
                upgraded["user_id"] = canonical_user_id(upgraded["user_id"])
        return upgraded


def reply_envelope(to: OrganizationEvent, now: datetime) -> dict[str, Any]:
    """The envelope of an event that answers ``to``: the same correlation (login or
    operation) and organization, and its user and login where it names them."""
    envelope: dict[str, Any] = {
        "occurred_at": now,
        "correlation_id": to.correlation_id,
        "organization_id": to.organization_id,
    }
    for name in ("user_id", "login_id"):
        if (value := getattr(to, name, None)) is not None:
            envelope[name] = value
    return envelope


class UserEvent(OrganizationEvent):
    user_id: CanonicalUserId

    @property
    def user(self) -> UserRef:
        return UserRef(self.organization_id, self.user_id)


class LoginAttempted(UserEvent):
    login_id: Identifier
    email: Email
    user_type: UserType
    require_mfa: bool = Field(
        default=False, description="MFA whatever the policy says (e.g. an admin console sign-in)"
    )
    issuer: Issuer | None = Field(
        default=None, description="The organization's name in authenticator apps"
    )


class LoginDecided(UserEvent):
    login_id: Identifier
    email: Email
    mfa_required: bool
    reason: DecisionReason
    policy_version: int = Field(ge=0)
    issuer: Issuer | None = None
    user_type: UserType | None = Field(
        default=None, description="As the login named it (for the admin's coverage list)"
    )


class EnrollmentIssued(UserEvent):
    """Either a pending enrollment to show (QR) or 'enrolled: ask for the code'."""

    login_id: Identifier
    credential_id: Identifier
    state: Literal["pending", "enrolled"]
    otpauth_uri: Sealed | None = Field(
        default=None, description="Sealed with enrollment_context(login_id); pending only"
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="When a pending enrollment stops being offered"
    )
    credential_created_at: AwareDatetime
    confirmed_at: AwareDatetime | None = None


class CredentialRegistered(UserEvent):
    credential_id: Identifier
    secret: Sealed = Field(description="Base32 secret sealed with credential_context")
    algorithm: Literal["SHA1"] = "SHA1"
    digits: Literal[6] = 6
    period: Literal[30] = 30
    created_at: AwareDatetime


class CodeSubmitted(UserEvent):
    login_id: Identifier
    submission_id: Identifier
    credential_id: Identifier
    purpose: CodePurpose
    code: Sealed = Field(description="The typed code sealed with code_context")
    kind: CodeKind = Field(default="totp", description="An app's code, or a recovery code")


class CodeVerified(UserEvent):
    login_id: Identifier
    submission_id: Identifier
    credential_id: Identifier
    purpose: CodePurpose
    kind: CodeKind = "totp"
    step_offset: int | None = Field(
        default=None, description="The matching step minus the current one: the app's drift"
    )
    recovery_codes: Sealed | None = Field(
        default=None,
        description="New recovery codes (JSON list) sealed with recovery_codes_context(login_id):"
        " sent once, when an enrollment code confirms the authenticator",
    )
    recovery_codes_left: int | None = Field(default=None, ge=0)

    @property
    def confirms_authenticator(self) -> bool:
        """This code confirmed a new authenticator: verification issues the first set of
        recovery codes then, and only then (a second login's enrollment code for the same
        credential passes like any code)."""
        return self.purpose == "enrollment" and self.recovery_codes is not None


class CodeRejected(UserEvent):
    login_id: Identifier
    submission_id: Identifier
    credential_id: Identifier
    reason: RejectReason
    attempts_left: int = Field(ge=0)
    locked_until: AwareDatetime | None = None
    locked_now: bool = Field(default=False, description="This rejection started the lock")


class AuthenticatorReset(UserEvent):
    requested_by: Actor


class AuthenticatorUnlocked(UserEvent):
    """An administrator ends a lock: failures and lock escalation start over, the
    credential and its replay guard stay. Confirmed like a reset (by verification)."""

    requested_by: Actor


class RecoveryCodesRequested(UserEvent):
    """A user who just passed a code asks for a new set; the old set stops working."""

    login_id: Identifier
    credential_id: Identifier


class RecoveryCodesIssued(UserEvent):
    login_id: Identifier
    credential_id: Identifier
    request_id: UUID = Field(description="The event id of the RecoveryCodesRequested answered")
    recovery_codes: Sealed | None = Field(
        description="JSON list sealed with recovery_codes_context(login_id); None when the "
        "credential is no longer the user's (reset or replaced meanwhile)"
    )
    recovery_codes_left: int = Field(ge=0)


class UserNotice(UserEvent):
    """Something the user should hear about, by mail from the relying application.

    Delivered at least once: ``event_id`` is the same for every copy of one notice.
    """

    kind: NoticeKind
    email: Email
    locked_until: AwareDatetime | None = None
    recovery_codes_left: int | None = Field(default=None, ge=0)
    remembered_until: AwareDatetime | None = Field(
        default=None, description="device_remembered: until when the device skips codes"
    )


class AuthenticatorResetApplied(UserEvent):
    """An owner applied an admin operation on the user's authenticator (a reset, or
    an unlock): ``correlation_id`` is the operation."""

    service: Literal["enrollment", "verification"]


MAX_LISTED_USERS = 5_000
MAX_USER_TYPES = 500
MAX_REMEMBER_DEVICE_DAYS = 90


class PolicyRules(BaseModel):
    """Who must use MFA: the union of the three settings.

    The lists are bounded so that every document holding a policy stays far below
    MongoDB's 16 MiB: the policy service stores the users twice (as given and folded),
    at up to 128 characters of up to 4 bytes each (tests/unit/test_policy_size.py).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    all_users: bool = False
    user_types: tuple[UserType, ...] = Field(default=(), max_length=MAX_USER_TYPES)
    users: tuple[Identifier, ...] = Field(
        default=(), max_length=MAX_LISTED_USERS, description="User ids or e-mail addresses"
    )
    remember_device_days: int = Field(
        default=0,
        ge=0,
        le=MAX_REMEMBER_DEVICE_DAYS,
        description="After a code, a device may skip codes this many days; 0: off",
    )

    @field_validator("user_types", "users")
    @classmethod
    def _unique_sorted(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(values)))


class PolicyUpdated(OrganizationEvent):
    policy: PolicyRules
    requested_by: Actor
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="Apply only over this version (the one the editor saw); else a conflict",
    )


class PolicyApplied(OrganizationEvent):
    """The update is applied (or was already): ``policy`` is that version. On a conflict
    nothing changed, and ``policy`` and ``version`` are the current ones."""

    policy: PolicyRules
    version: int = Field(ge=0)
    updated_at: AwareDatetime | None
    requested_by: Actor
    conflict: bool = False


class DeadLettered(Event):
    stream: str
    entry_ids: tuple[str, ...]
    group: str | None
    error: str = Field(max_length=2000)
    payload: str = Field(max_length=4000, description="The unreadable body, truncated")
    original: str | None = Field(
        default=None, description="The entry's data field, base64, whole: what a replay sends"
    )
