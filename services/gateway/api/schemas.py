"""HTTP bodies: what clients send and what they get back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)
from typing_extensions import TypeAliasType

from services.gateway.domain.login import Kind, Login, PendingEnrollment, Status, visible_status
from services.gateway.domain.login import PassedBy as PassedByValue
from services.gateway.presentation.passkeys import checked_answer
from services.gateway.presentation.qr import qr_svg, secret_of
from services.gateway.settings import MAX_WAIT_SECONDS
from shared.crypto import SecretBox, enrollment_context
from shared.events import PolicyRules, UserType
from shared.identity import UserIdInput

# Named schemas (components of docs/openapi.json, one type each in a generated client),
# the values staying plain strings.
LoginStatus = TypeAliasType("LoginStatus", Status)
PassedBy = TypeAliasType("PassedBy", PassedByValue)
AuthenticatorKind = TypeAliasType("AuthenticatorKind", Kind)


AppCode = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{6}([0-9]{2})?$",
        description="The digits the app shows: 6, or 8 for an app or token that makes 8",
    ),
]
RecoveryCodeText = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9 -]{10,24}$",
        description="A recovery code (xxxxx-xxxxx; case, spaces and dashes do not matter)",
    ),
]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserIdInput = Field(
        description="Your id of the user: 1-128 letters, digits and . _ - @ +; "
        "compared ignoring case and character width (stored canonical)",
        examples=["ada@example.com"],
    )
    email: EmailStr = Field(max_length=254)
    user_type: UserType
    require_mfa: bool = Field(
        default=False, description="Ask for a code even where the policy does not"
    )
    device_token: str | None = Field(
        default=None,
        max_length=128,
        description="A token this device got from POST /v1/logins/{id}/device: a login "
        "of the same user and authenticator skips the code while it is valid",
    )
    code: AppCode | None = Field(
        default=None,
        description="The one-request login: the code the user typed with their password. "
        "Checked once the login is decided (waiting up to `wait`), only if the login asks "
        "for a code; the answer is then what POST /v1/logins/{id}/code answers",
    )
    recovery_code: RecoveryCodeText | None = Field(
        default=None, description="A recovery code instead of `code` (not both)"
    )
    wait: float | None = Field(
        default=None,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait for the decision (capped by MFA_MAX_WAIT_SECONDS), "
        "so that it comes in this answer; with a code and no wait, the longest wait",
    )

    @model_validator(mode="after")
    def _one_code(self) -> LoginRequest:
        if self.code is not None and self.recovery_code is not None:
            raise ValueError("send code or recovery_code, not both")
        return self


class CodeRequest(BaseModel):
    """An app's code, or one of the user's recovery codes: exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    code: AppCode | None = None
    recovery_code: RecoveryCodeText | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CodeRequest:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send either code or recovery_code")
        return self


class PasskeyRequest(BaseModel):
    """The browser's answer to the login's passkey options."""

    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any] = Field(
        description="The PublicKeyCredential as its toJSON() gives it: RegistrationResponseJSON "
        "while the login registers a passkey, AuthenticationResponseJSON when it signs in"
    )

    @field_validator("credential")
    @classmethod
    def _shaped(cls, value: dict[str, Any]) -> dict[str, Any]:
        return checked_answer(value)


class PasskeyCeremony(BaseModel):
    """What to pass to the browser: PublicKeyCredential.parseCreationOptionsFromJSON()
    (registration) or parseRequestOptionsFromJSON() (authentication), then
    navigator.credentials.create() or get(); send the result to POST .../passkey."""

    ceremony: Literal["registration", "authentication"]
    options: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptionsJSON (registration) or "
        "PublicKeyCredentialRequestOptionsJSON (authentication)"
    )


class PolicyRequest(PolicyRules):
    """The whole policy; absent fields mean off / empty."""


class EnrollmentView(BaseModel):
    otpauth_uri: str
    secret: str
    qr_svg: str
    expires_at: datetime


class LoginState(BaseModel):
    login_id: str
    user_id: str
    status: LoginStatus
    mfa_required: bool | None
    enrollment: EnrollmentView | None
    expires_at: datetime
    passed_by: PassedBy | None = Field(
        default=None, description="How MFA was passed: code, recovery_code, remembered_device"
    )
    kinds: list[AuthenticatorKind] = Field(
        default_factory=list,
        description="While waiting for the user: what this login takes (totp: an app's "
        "code, passkey: the passkey ceremony); recovery codes once the user is enrolled",
    )
    passkey: PasskeyCeremony | None = Field(
        default=None, description="While waiting for the user, if a passkey may be used"
    )
    code_digits: int | None = Field(
        default=None, description="While an app's code is asked for: how many digits (6 or 8)"
    )
    recovery_codes: list[str] | None = Field(
        default=None,
        description="New recovery codes, in the answer to the code that confirmed the "
        "authenticator (or, if that answer was lost, in the first read of the login by "
        "the same key), to that key only: show them to the user now, they are not shown "
        "again",
    )


class RecoveryCodesState(BaseModel):
    recovery_codes: list[str] = Field(description="Shown this once; the previous set is void")


class ForgetDeviceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_token: str = Field(min_length=1, max_length=128)


class DeviceRemembered(BaseModel):
    device_token: str = Field(description="Keep it on this device only; send it with logins")
    expires_at: datetime


class DeviceForgotten(BaseModel):
    forgotten: bool = Field(description="False: no such token (already forgotten or expired)")


CodeRefusalCode = TypeAliasType(
    "CodeRefusalCode",
    Literal[
        "invalid_code",
        "expired_code",
        "reused_code",
        "passkey_refused",
        "possibly_cloned",
        "locked",
        "verification_timeout",
    ],
)


class CodeError(BaseModel):
    code: CodeRefusalCode
    message: str
    attempts_left: int | None = None


class CodeRefused(LoginState):
    error: CodeError
    locked_until: datetime | None = None


class PolicyState(PolicyRules):
    version: int
    updated_at: AwareDatetime | None


class PolicyVersion(PolicyRules):
    version: int
    updated_at: AwareDatetime
    requested_by: str


class AuthenticatorState(BaseModel):
    user_id: str
    enrolled: bool
    confirmed: bool
    created_at: datetime | None
    confirmed_at: datetime | None
    locked_until: datetime | None
    recovery_codes_left: int | None = None
    step_offset: int | None = Field(
        default=None, description="The last accepted app code's step minus the current one"
    )
    remembered_devices: int = 0


class ResetDone(BaseModel):
    user_id: str
    reset: Literal[True] = True


def login_state(login: Login, now: datetime, box: SecretBox) -> LoginState:
    status = visible_status(login, now)
    enrollment = None
    pending = login.enrollment if status == "enrollment_required" else None
    if pending is not None and pending.otpauth_uri is not None:
        uri = box.open(pending.otpauth_uri, enrollment_context(login.login_id))
        enrollment = EnrollmentView(
            otpauth_uri=uri,
            secret=secret_of(uri),
            qr_svg=qr_svg(uri),
            expires_at=pending.expires_at,
        )
    waiting = status in ("enrollment_required", "code_required", "locked")
    return LoginState(
        login_id=login.login_id,
        user_id=login.user_id,
        status=status,
        mfa_required=login.mfa_required,
        enrollment=enrollment,
        expires_at=login.expires_at,
        passed_by=login.passed_by if status == "authenticated" else None,
        kinds=list(login.kinds) if waiting else [],
        passkey=_ceremony(login, pending) if waiting else None,
        code_digits=login.digits if waiting and "totp" in login.kinds else None,
    )


def _ceremony(login: Login, pending: PendingEnrollment | None) -> PasskeyCeremony | None:
    if pending is not None:
        options = pending.passkey_registration
        return (
            PasskeyCeremony(ceremony="registration", options=json.loads(options))
            if options
            else None
        )
    if login.passkey_authentication and login.status == "code_required":
        return PasskeyCeremony(
            ceremony="authentication", options=json.loads(login.passkey_authentication)
        )
    return None


class Alive(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, bool] = Field(description="This gateway's own dependencies: redis, mongodb")
    downstream: dict[str, int] = Field(
        description="Live replicas of each service the gateway sends to (not in the status)"
    )


class FieldError(BaseModel):
    field: str = Field(description="Where: a body field, a query or path parameter")
    message: str


ErrorCode = TypeAliasType(
    "ErrorCode",
    Literal[
        "unauthorized",
        "forbidden",
        "not_found",
        "login_not_found",
        "login_expired",
        "not_waiting_for_code",
        "no_recovery_codes_yet",
        "kind_not_offered",
        "too_many_passkeys",
        "last_authenticator",
        "no_relying_party",
        "plan_changed",
        "no_match",
        "code_not_passed",
        "remembering_off",
        "device_already_remembered",
        "policy_changed",
        "conflict",
        "too_many_codes",
        "body_too_large",
        "invalid_request",
        "not_applied_in_time",
        "unavailable",
        "method_not_allowed",
        "http_error",
    ],
)


class ErrorDetail(BaseModel):
    """What every refusal says: ``code`` for programs (stable), ``message`` for people;
    some codes add what they name."""

    code: ErrorCode
    message: str
    fields: list[FieldError] | None = Field(default=None, description="invalid_request: each")
    status: LoginStatus | None = Field(
        default=None, description="not_waiting_for_code: the login's"
    )
    current: PolicyState | None = Field(default=None, description="policy_changed: as it is now")
    waiting_for: list[str] | None = Field(
        default=None, description="not_applied_in_time: the services yet to confirm"
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


WHY: dict[int, str] = {
    401: "Missing, unknown or revoked API key (unauthorized)",
    403: "A key of another role (forbidden)",
    404: "No such login, organization, key or user here (login_not_found, not_found)",
    409: "Not now: the error's code says why",
    410: "The login expired, or an authenticator reset ended it (login_expired)",
    413: "The body is over the cap (body_too_large)",
    422: "The request does not match its schema (invalid_request; fields says where)",
    429: "Too many attempts (too_many_codes); Retry-After says when to try again",
    503: "Redis or the database is unavailable (unavailable); Retry-After says when",
    504: "Accepted, not yet confirmed by every service (not_applied_in_time)",
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: each status it may refuse with, and why."""
    return {code: {"model": ErrorBody, "description": WHY[code]} for code in statuses}


def json_refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The same, for a route whose own answers are not JSON (its refusals still are)."""
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {code: {"description": WHY[code], "content": body} for code in statuses}


KEYED = (401, 403, 503)  # every route behind a key
