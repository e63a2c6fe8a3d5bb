"""Seal every stored secret again under the newest encryption key, with the stack running.

    MFA_ENCRYPTION_KEYS=new:...,old:... python -m deploy.reseal

Reads the same settings as the services (MFA_MONGODB_URL, MFA_DATABASE_PREFIX,
MFA_ENCRYPTION_KEYS) and has each service's store seal its own secrets again: the
enrollment service's credentials, the verification service's authenticators, and the
QR payloads of the gateway's open logins. The rotation step by step: shared/rotation.py.
"""

from __future__ import annotations

import asyncio
import sys

from services.enrollment.settings import EnrollmentSettings
from services.enrollment.store import CredentialStore
from services.gateway.settings import GatewaySettings
from services.gateway.stores.logins import LoginStore
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared.crypto import SecretBox
from shared.mongo import connect, service_database
from shared.service import load_settings


async def reseal_everything() -> dict[str, int]:
    enrollment = load_settings(EnrollmentSettings)
    verification = load_settings(VerificationSettings)
    gateway = load_settings(GatewaySettings)
    box = SecretBox(enrollment.keyring)
    client = connect(enrollment)
    try:
        return {
            "credentials": await CredentialStore(service_database(client, enrollment)).reseal(box),
            "authenticators": await AuthenticatorStore(
                service_database(client, verification)
            ).reseal(box),
            "logins": await LoginStore(service_database(client, gateway)).reseal(box),
        }
    finally:
        await client.close()


def main() -> None:
    counts = asyncio.run(reseal_everything())
    summary = ", ".join(f"{n} {what}" for what, n in counts.items())
    print(f"sealed again under the active key: {summary}", file=sys.stderr)


if __name__ == "__main__":
    main()
