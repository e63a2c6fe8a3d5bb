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
    fold,
)

# WebAuthn options in their standard JSON form, as a JSON text (W3C WebAuthn L3 5.1).
PasskeyOptions = Annotated[str, StringConstraints(min_length=2, max_length=20_000)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
# Who asked for an admin change: "key:<key id>", or "user:<e-mail>" for a console user
# (an e-mail takes up to 254 characters).
Actor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Issuer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
UserType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

DecisionReason = Literal["all_users", "user_type", "user", "required_by_caller", "not_applicable"]
CodePurpose = Literal["enrollment", "login"]
# possibly_cloned: a passkey's signature counter went backwards (WebAuthn 6.1.1).
RejectReason = Literal["invalid", "expired", "reused", "locked", "possibly_cloned"]
# What a user authenticates with: an app's code (RFC 6238) or a passkey (WebAuthn).
AuthenticatorKind = Literal["totp", "passkey"]
# What a submission carries: an app's code, a recovery code, or a passkey's answer
# (the browser's PublicKeyCredential as JSON: an attestation at registration, an
# assertion at sign-in).
CodeKind = Literal["totp", "recovery_code", "passkey"]
UserVerification = Literal["required", "preferred", "discouraged"]
NoticeKind = Literal[
    "authenticator_confirmed",
    "recovery_code_used",
    "authenticator_reset",
    "locked",
    "recovery_codes_issued",
    "device_remembered",
    "passkey_registered",
    "passkey_possibly_cloned",
    "authenticator_imported",
]


class TotpParameters(BaseModel):
    """An app's codes (RFC 6238): the hash, how many digits, how many seconds a step.
    SHA1, 6 and 30 are what every authenticator app reads from a QR code; tokens and
    imported secrets may use the others (issue 21)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: Literal["SHA1", "SHA256", "SHA512"] = "SHA1"
    digits: Literal[6, 8] = 6
    period: Literal[30, 60] = 30


class RelyingParty(BaseModel):
    """Where an organization's passkeys work: the RP ID (a registrable domain, never an
    IP address) and the exact origins its sign-in pages are served from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[
        str,
        StringConstraints(
            min_length=1,
            max_length=253,
            # Lower-case labels, the last one starting with a letter: never an IP.
            pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
        ),
    ]
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        default="", description="Shown by the browser; empty: the organization's issuer name"
    )
    origins: tuple[
        Annotated[str, StringConstraints(pattern=r"^https?://[^/?#\s]+$", max_length=300)], ...
    ] = Field(min_length=1, max_length=10)


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
    relying_party: RelyingParty | None = None
    kinds: tuple[AuthenticatorKind, ...] = Field(
        default=("totp",),
        min_length=1,
        description="The kinds this user may register and use; ('passkey',): one is required",
    )
    user_verification: UserVerification = "preferred"
    totp: TotpParameters = Field(
        default_factory=TotpParameters, description="For an app secret made at this login"
    )


class EnrollmentIssued(UserEvent):
    """Either a pending enrollment to show (QR, passkey registration) or 'enrolled: ask
    for the code', or for the passkey (verification then adds the sign-in challenge)."""

    login_id: Identifier
    credential_id: Identifier = Field(
        description="The user's authenticator: what a reset removes, what codes are for"
    )
    state: Literal["pending", "enrolled"]
    otpauth_uri: Sealed | None = Field(
        default=None,
        description="Sealed with enrollment_context(login_id); pending, when an app may be used",
    )
    passkey_registration: PasskeyOptions | None = Field(
        default=None,
        description="PublicKeyCredentialCreationOptionsJSON; pending, when a passkey may be used",
    )
    kinds: tuple[AuthenticatorKind, ...] = Field(
        default=("totp",),
        min_length=1,
        description="Pending: the kinds the user may register; enrolled: the kinds the "
        "user holds and may use at this login",
    )
    relying_party: RelyingParty | None = None
    user_verification: UserVerification = "preferred"
    totp: TotpParameters = Field(
        default_factory=TotpParameters,
        description="The user's app codes: how many digits, how many seconds each",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="When a pending enrollment stops being offered"
    )
    credential_created_at: AwareDatetime
    confirmed_at: AwareDatetime | None = None
    first_use: bool = Field(
        default=False,
        description="Enrolled: an imported authenticator not used yet, which the code this "
        "login accepts confirms (purpose enrollment, with no QR)",
    )


class Passkey(BaseModel):
    """A registered WebAuthn credential, as sign-in needs it. Public data: the private
    key never leaves the authenticator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=1400)] = Field(
        description="The credential id, base64url (WebAuthn allows up to 1023 bytes)"
    )
    public_key: Annotated[str, StringConstraints(min_length=1, max_length=2800)] = Field(
        description="The COSE public key, base64url"
    )
    sign_count: int = Field(ge=0, le=2**32 - 1)
    aaguid: Annotated[str, StringConstraints(max_length=36)] = ""
    transports: tuple[Annotated[str, StringConstraints(max_length=32)], ...] = Field(
        default=(), max_length=8
    )
    backup_eligible: bool = False
    backed_up: bool = False
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    created_at: AwareDatetime


class CredentialRegistered(UserEvent):
    """A TOTP secret (kind totp), or a passkey the user registered (kind passkey)."""

    credential_id: Identifier = Field(description="The user's authenticator (see EnrollmentIssued)")
    kind: AuthenticatorKind = "totp"
    secret: Sealed | None = Field(
        default=None, description="totp: the base32 secret sealed with credential_context"
    )
    algorithm: Literal["SHA1", "SHA256", "SHA512"] = "SHA1"
    digits: Literal[6, 8] = 6
    period: Literal[30, 60] = 30
    counter: int | None = Field(
        default=None,
        ge=0,
        le=2**63 - 1,
        description="An HOTP token's (RFC 4226): the counter of its next code; None: TOTP",
    )
    created_at: AwareDatetime
    passkey: Passkey | None = Field(default=None, description="passkey: the one registered")
    login_id: Identifier | None = Field(
        default=None, description="passkey: the login whose submission registered it"
    )
    submission_id: Identifier | None = Field(
        default=None, description="passkey: the submission answered by this registration"
    )
    voids_app_secret: bool = Field(
        default=False,
        description="passkey: registered instead of the app secret offered beside it (or the "
        "user holds no app secret): any app secret verification holds is void",
    )

    @property
    def parameters(self) -> TotpParameters:
        return TotpParameters(algorithm=self.algorithm, digits=self.digits, period=self.period)

    @model_validator(mode="after")
    def _kind_has_its_data(self) -> CredentialRegistered:
        if (self.kind == "totp") != (self.secret is not None) or (
            (self.kind == "passkey") != (self.passkey is not None)
        ):
            raise ValueError("a totp credential carries a secret, a passkey its passkey")
        return self


class AuthenticatorImported(UserEvent):
    """An administrator's import brings a user's existing app or token across (issue 21):
    a confirmed credential, its next login asks for a code with no QR. Answered by
    AuthenticatorImportApplied; ``correlation_id`` is the import."""

    credential_id: Identifier = Field(
        description="Made from the fingerprint: the same row twice is one"
    )
    secret: Sealed = Field(description="Base32 secret sealed with credential_context")
    algorithm: Literal["SHA1", "SHA256", "SHA512"] = "SHA1"
    digits: Literal[6, 8] = 6
    period: Literal[30, 60] = 30
    counter: int | None = Field(default=None, ge=0, le=2**63 - 1, description="HOTP")
    account: Annotated[str, StringConstraints(max_length=254)] = ""
    replace: bool = Field(default=False, description="Replace an authenticator the user holds")
    confirm: Literal["now", "first_use"] = Field(
        default="now",
        description="now: confirmed as it is imported; first_use: the user's first accepted "
        "code confirms it (and brings their recovery codes), as a scanned QR's does",
    )
    requested_by: Actor

    @property
    def parameters(self) -> TotpParameters:
        return TotpParameters(algorithm=self.algorithm, digits=self.digits, period=self.period)


class AuthenticatorImportApplied(UserEvent):
    """Enrollment applied one row of an import."""

    credential_id: Identifier
    outcome: Literal["imported", "unchanged", "has_authenticator"]
    created_at: AwareDatetime | None = None
    confirmed: bool = Field(default=True, description="False: confirmed at first use")


class PasskeyChallenged(UserEvent):
    """Verification's sign-in challenge for a login of a user who holds passkeys: the
    login asks for the passkey (and the app's code, if the user may use one) now."""

    login_id: Identifier
    credential_id: Identifier
    kinds: tuple[AuthenticatorKind, ...] = Field(min_length=1)
    passkey_authentication: PasskeyOptions = Field(
        description="PublicKeyCredentialRequestOptionsJSON"
    )
    expires_at: AwareDatetime
    totp: TotpParameters = Field(
        default_factory=TotpParameters, description="The user's app codes, if they hold an app"
    )


PasskeyId = Annotated[str, StringConstraints(min_length=1, max_length=1400)]


class PasskeysRemoved(UserEvent):
    """A user (signed in) or an administrator removes some of the user's passkeys:
    enrollment and verification confirm (AuthenticatorResetApplied), as for a reset."""

    passkey_ids: tuple[PasskeyId, ...] = Field(min_length=1, max_length=10)
    requested_by: Actor


class PasskeyRegistrationRequested(UserEvent):
    """A user who just passed a code or passkey asks to add a passkey."""

    login_id: Identifier
    credential_id: Identifier
    relying_party: RelyingParty
    user_verification: UserVerification = "preferred"
    issuer: Issuer | None = None


class PasskeyRegistrationOpened(UserEvent):
    """Enrollment's answer: registration options for that login, or why there are none."""

    login_id: Identifier
    request_id: UUID = Field(description="The PasskeyRegistrationRequested answered")
    passkey_registration: PasskeyOptions | None = None
    refused: Literal["too_many_passkeys", "no_authenticator"] | None = None


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
    passkey_id: str | None = Field(
        default=None, max_length=1400, description="passkey: the one that signed (base64url)"
    )
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
    attempts_left: int | None = Field(
        ge=0, description="None: not counted toward the lockout (a refused registration)"
    )
    kind: CodeKind = "totp"
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
    outcome: Literal["resynced", "no_match", "not_a_token"] | None = Field(
        default=None, description="A token's resynchronisation: how it went"
    )


class TokenResynced(UserEvent):
    """An administrator resynchronises a user's HOTP token by two consecutive codes it
    shows (RFC 4226 section 7.4): verification looks far ahead for the pair."""

    codes: Sealed = Field(description="JSON [first, second], sealed with resync_context")
    requested_by: Actor


MAX_LISTED_USERS = 5_000
MAX_USER_TYPES = 500
MAX_REMEMBER_DEVICE_DAYS = 90
MAX_PASSKEY_USERS = 1_000


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
    # Passkeys (docs/passkeys.md). They are offered where the organization has a
    # relying party (here, or the deployment's MFA_WEBAUTHN_RP_ID).
    allowed_kinds: tuple[AuthenticatorKind, ...] = Field(
        default=("passkey", "totp"),
        min_length=1,
        max_length=2,
        description="What users may register: passkey, totp (an authenticator app)",
    )
    require_passkey_all_users: bool = False
    require_passkey_user_types: tuple[UserType, ...] = Field(default=(), max_length=MAX_USER_TYPES)
    require_passkey_users: tuple[Identifier, ...] = Field(
        default=(),
        max_length=MAX_PASSKEY_USERS,
        description="User ids or e-mail addresses who must use a passkey (never an app's code)",
    )
    user_verification: UserVerification = Field(
        default="preferred",
        description="Whether passkeys must verify the user (PIN, biometrics): required, "
        "preferred or discouraged",
    )
    relying_party: RelyingParty | None = Field(
        default=None, description="Where this organization's passkeys work (RP ID, origins)"
    )
    totp: TotpParameters = Field(
        default_factory=TotpParameters,
        description="New app secrets' codes: SHA1, 6 digits, 30 s is what every app reads "
        "from a QR; the others suit apps and tokens known to read them",
    )

    @field_validator("user_types", "users", "require_passkey_user_types", "require_passkey_users")
    @classmethod
    def _unique_sorted(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(values)))

    @field_validator("allowed_kinds")
    @classmethod
    def _kinds_once(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(values)))

    @model_validator(mode="after")
    def _required_is_allowed(self) -> PolicyRules:
        if self.requires_any_passkey and "passkey" not in self.allowed_kinds:
            raise ValueError("a policy that requires passkeys must allow them")
        return self

    @property
    def requires_any_passkey(self) -> bool:
        return bool(
            self.require_passkey_all_users
            or self.require_passkey_user_types
            or self.require_passkey_users
        )

    def requires_passkey_of(self, user_type: str, listed: bool) -> bool:
        return (
            self.require_passkey_all_users or user_type in self.require_passkey_user_types or listed
        )

    def lists_for_passkey(self, user_id: str, email: str) -> bool:
        """Whether require_passkey_users names this user, by id or e-mail, as the
        policy service compares them (folded)."""
        keys = {fold(user_id), fold(email)}
        return any(fold(listed) in keys for listed in self.require_passkey_users)


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
