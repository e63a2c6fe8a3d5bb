"""The event contract: one frozen pydantic model per stream.

Rules for change: add optional fields, never rename or remove; bump
``schema_version`` when meaning changes. Models refuse unknown fields, so
consumers are deployed before the producers that start sending a new field.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.crypto import Sealed

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
UserType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

DecisionReason = Literal["all_users", "user_type", "user", "not_applicable"]
CodePurpose = Literal["enrollment", "login"]
RejectReason = Literal["invalid", "expired", "reused", "locked"]


class Event(BaseModel):
    """Envelope shared by every event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime
    correlation_id: Identifier = Field(
        description="The login id for login events, the admin operation id otherwise"
    )


class LoginAttempted(Event):
    login_id: Identifier
    user_id: Identifier
    email: Email
    user_type: UserType


class LoginDecided(Event):
    login_id: Identifier
    user_id: Identifier
    email: Email
    mfa_required: bool
    reason: DecisionReason
    policy_version: int = Field(ge=0)


class EnrollmentIssued(Event):
    """Either a pending enrollment to show (QR) or 'enrolled: ask for the code'."""

    login_id: Identifier
    user_id: Identifier
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


class CredentialRegistered(Event):
    user_id: Identifier
    credential_id: Identifier
    secret: Sealed = Field(description="Base32 secret sealed with credential_context")
    algorithm: Literal["SHA1"] = "SHA1"
    digits: Literal[6] = 6
    period: Literal[30] = 30
    created_at: AwareDatetime


class CodeSubmitted(Event):
    login_id: Identifier
    submission_id: Identifier
    user_id: Identifier
    credential_id: Identifier
    purpose: CodePurpose
    code: Sealed = Field(description="The typed code sealed with code_context")


class CodeVerified(Event):
    login_id: Identifier
    submission_id: Identifier
    user_id: Identifier
    credential_id: Identifier
    purpose: CodePurpose


class CodeRejected(Event):
    login_id: Identifier
    submission_id: Identifier
    user_id: Identifier
    credential_id: Identifier
    reason: RejectReason
    attempts_left: int = Field(ge=0)
    locked_until: AwareDatetime | None = None


class AuthenticatorReset(Event):
    user_id: Identifier
    requested_by: Identifier


class AuthenticatorResetApplied(Event):
    user_id: Identifier
    service: Literal["enrollment", "verification"]


class PolicyRules(BaseModel):
    """Who must use MFA: the union of the three settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    all_users: bool = False
    user_types: tuple[UserType, ...] = Field(default=(), max_length=1000)
    users: tuple[Identifier, ...] = Field(
        default=(), max_length=100_000, description="User ids or e-mail addresses"
    )

    @field_validator("user_types", "users")
    @classmethod
    def _unique_sorted(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(values)))


class PolicyUpdated(Event):
    policy: PolicyRules
    requested_by: Identifier


class PolicyApplied(Event):
    policy: PolicyRules
    version: int = Field(ge=1)
    updated_at: AwareDatetime
    requested_by: Identifier


class DeadLettered(Event):
    stream: str
    entry_ids: tuple[str, ...]
    group: str | None
    error: str = Field(max_length=2000)
    payload: str = Field(max_length=4000, description="The unreadable body, truncated")
