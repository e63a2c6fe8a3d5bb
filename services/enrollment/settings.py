from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class EnrollmentSettings(ServiceSettings):
    service_name: ClassVar[str] = "enrollment"

    issuer: str = Field(
        default="Imageshop",
        min_length=1,
        max_length=64,
        description="Shown by the authenticator app above the account",
    )
    # As long as the gateway keeps a first sign-in open (MFA_ENROLLMENT_TTL_SECONDS): a
    # passkey's registration challenge lives this long, and must not end before the page.
    offer_ttl_seconds: int = Field(
        default=900, ge=60, description="How long an unconfirmed QR is offered again"
    )
