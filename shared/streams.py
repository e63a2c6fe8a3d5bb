"""Stream names: the one place they are spelled.

A deployment-wide prefix (settings.stream_prefix) is added when a service wires
its router, so test runs and tenants on one Redis never see each other's events.
"""

from typing import Final

LOGIN_ATTEMPTED: Final = "mfa.login.attempted"
LOGIN_DECIDED: Final = "mfa.login.decided"
ENROLLMENT_ISSUED: Final = "mfa.enrollment.issued"
CREDENTIAL_REGISTERED: Final = "mfa.credential.registered"
CODE_SUBMITTED: Final = "mfa.code.submitted"
CODE_VERIFIED: Final = "mfa.code.verified"
CODE_REJECTED: Final = "mfa.code.rejected"
AUTHENTICATOR_RESET: Final = "mfa.authenticator.reset"
POLICY_UPDATED: Final = "mfa.policy.updated"
AUTHENTICATOR_UNLOCKED: Final = "mfa.authenticator.unlocked"
RECOVERY_CODES_REQUESTED: Final = "mfa.recovery_codes.requested"
RECOVERY_CODES_ISSUED: Final = "mfa.recovery_codes.issued"
# Passkeys (docs/passkeys.md): registrations go to enrollment, which publishes the
# passkey on CREDENTIAL_REGISTERED; sign-in answers travel as CODE_SUBMITTED (kind
# passkey) to verification, whose challenge for a login is PASSKEY_CHALLENGED.
PASSKEY_REGISTRATION_SUBMITTED: Final = "mfa.passkey.registration.submitted"
PASSKEY_CHALLENGED: Final = "mfa.passkey.challenged"
PASSKEYS_REMOVED: Final = "mfa.passkeys.removed"
# A signed-in user adds a passkey: enrollment opens a registration for the login.
PASSKEY_REGISTRATION_REQUESTED: Final = "mfa.passkey.registration.requested"
PASSKEY_REGISTRATION_OPENED: Final = "mfa.passkey.registration.opened"
# Imports (issue 21): one event per row applied, answered by enrollment.
AUTHENTICATOR_IMPORTED: Final = "mfa.authenticator.imported"
AUTHENTICATOR_IMPORT_APPLIED: Final = "mfa.authenticator.import.applied"
# An administrator resynchronises an HOTP token: answered on AUTHENTICATOR_RESET_APPLIED.
TOKEN_RESYNCED: Final = "mfa.token.resynced"  # noqa: S105 - a stream name
# For the relying application (no service consumes it): mail the user.
USER_NOTICE: Final = "mfa.user.notice"

# Added by the design (see docs/architecture.md): admin calls return only once the
# owning services have applied the change, so those services confirm on these.
POLICY_APPLIED: Final = "mfa.policy.applied"
AUTHENTICATOR_RESET_APPLIED: Final = "mfa.authenticator.reset.applied"
# Entries no handler could read (bad payload, or failing past the retry budget).
DEAD_LETTER: Final = "mfa.deadletter"

# Redis pub/sub channel (not a stream): gateway replicas wake their waiting
# HTTP requests when a login or admin operation changes.
GATEWAY_CHANGED: Final = "mfa.gateway.changed"

# Consumer groups: one per service, so every replica of a service shares its work.
POLICY_GROUP: Final = "policy"
ENROLLMENT_GROUP: Final = "enrollment"
VERIFICATION_GROUP: Final = "verification"
GATEWAY_GROUP: Final = "gateway"
