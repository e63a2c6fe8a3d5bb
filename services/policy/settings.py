from typing import ClassVar

from pydantic import Field

from shared.events import RelyingParty
from shared.settings import ServiceSettings


class PolicySettings(ServiceSettings):
    service_name: ClassVar[str] = "policy"

    # The relying party of organizations whose policy names none (docs/passkeys.md):
    # unset, passkeys are offered only where an organization sets its own.
    webauthn_rp_id: str | None = Field(
        default=None, description="A registrable domain (never an IP address), e.g. example.com"
    )
    webauthn_origins: tuple[str, ...] = Field(
        default=(), description="Where sign-in pages are served, e.g. https://login.example.com"
    )

    def relying_party(self) -> RelyingParty | None:
        if self.webauthn_rp_id is None:
            return None
        origins = self.webauthn_origins or (f"https://{self.webauthn_rp_id}",)
        return RelyingParty(id=self.webauthn_rp_id, origins=origins)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        party = self.relying_party()
        if party is not None and (
            party.id == "localhost" or any(not o.startswith("https://") for o in party.origins)
        ):
            problems.append("MFA_WEBAUTHN_RP_ID/ORIGINS: localhost or plain http in production")
        return problems
