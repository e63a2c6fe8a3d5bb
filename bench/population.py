"""A population of enrolled users, written through the services' own stores.

Each user ends up exactly as a finished enrollment leaves them: a confirmed
credential in enrollment's database, an authenticator with its sealed secret in
verification's, and the gateway's read model, all with the stack's own keys.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from pymongo import AsyncMongoClient

from services.enrollment.domain import new_credential, new_secret
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.store import CredentialStore
from services.gateway.read_models import AuthenticatorView
from services.gateway.settings import GatewaySettings
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared.crypto import SecretBox, credential_context
from shared.mongo import Document

BATCH = 64  # users written at once


async def seed_enrolled(env: dict[str, str], count: int, name: str) -> dict[str, str]:
    """Enroll ``count`` users named ``<name>-<n>``; returns each user's secret."""
    where = {"mongodb_url": env["MFA_MONGODB_URL"], "database_prefix": env["MFA_DATABASE_PREFIX"]}
    enrollment, verification = EnrollmentSettings(**where), VerificationSettings(**where)
    gateway = GatewaySettings(**where)
    client: AsyncMongoClient[Document] = AsyncMongoClient(env["MFA_MONGODB_URL"], tz_aware=True)
    credentials = CredentialStore(client[enrollment.database])
    authenticators = AuthenticatorStore(client[verification.database])
    view = AuthenticatorView(client[gateway.database])
    box = SecretBox(enrollment.keyring)
    now = datetime.now(UTC)
    secrets: dict[str, str] = {}

    async def enroll(user: str) -> None:
        secret = new_secret()
        credential = new_credential(user, f"{user}@example.com", now, timedelta(minutes=10))
        sealed = box.seal(secret, credential_context(user, credential.credential_id))
        assert await credentials.put_new(credential, sealed, replacing=None)
        assert await credentials.confirm(user, credential.credential_id, now)
        assert await authenticators.register(user, credential.credential_id, sealed, now)
        await view.issued(user, credential.credential_id, now, confirmed_at=now)
        secrets[user] = secret

    try:
        for start in range(0, count, BATCH):
            users = [f"{name}-{n}" for n in range(start, min(count, start + BATCH))]
            await asyncio.gather(*(enroll(user) for user in users))
    finally:
        await client.close()
    return secrets


def sample(secrets: dict[str, str], size: int) -> dict[str, str | None]:
    """Users spread over the whole population, so lookups do not favour its start."""
    chosen = random.sample(sorted(secrets), min(size, len(secrets)))
    return {user: secrets[user] for user in chosen}
