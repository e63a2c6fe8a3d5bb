"""A population of enrolled users, written through the services' own stores.

Each user ends up exactly as a finished enrollment leaves them: a confirmed
credential in enrollment's database, an authenticator with its sealed secret in
verification's, and the gateway's read model, all with the stack's own keys.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pymongo import AsyncMongoClient

from deploy.localstack import LocalStack, free_port
from services.enrollment.domain import new_credential, new_secret
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.store import CredentialStore
from services.gateway.settings import GatewaySettings
from services.gateway.stores.read_models import AuthenticatorView
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared.crypto import SecretBox, credential_context
from shared.identity import DEFAULT_ORGANIZATION, UserRef
from shared.mongo import Document

BATCH = 64  # users written at once


def bench_stack(workdir: Path, name: str, **env: str) -> LocalStack:
    """A stack as `make run` starts it, on ``workdir``, in a namespace of its own, with
    its own Redis (append-only) and, unless MONGODB_URL is set, its own FerretDB."""
    run = f"{name}{uuid.uuid4().hex[:8]}"
    return LocalStack(
        env={
            "MFA_STREAM_PREFIX": f"{run}:",
            "MFA_DATABASE_PREFIX": f"{run}_",
            "MFA_PORT": str(free_port()),
            "MFA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            # One client key carries every login of a run: the per-client code limit
            # (600/minute, against stolen keys) would measure itself, not the stack.
            "MFA_CODE_LIMIT_PER_CLIENT": "1000000/minute",
            **env,
        },
        log_dir=workdir / "logs",
        data_dir=workdir / "data",
    )


async def seed_enrolled(env: dict[str, str], count: int, name: str) -> dict[str, str]:
    """Enroll ``count`` users named ``<name>-<n>``; returns each user's secret."""
    url, prefix = env["MFA_MONGODB_URL"], env["MFA_DATABASE_PREFIX"]
    enrollment = EnrollmentSettings(mongodb_url=url, database_prefix=prefix)
    verification = VerificationSettings(mongodb_url=url, database_prefix=prefix)
    gateway = GatewaySettings(mongodb_url=url, database_prefix=prefix)
    client: AsyncMongoClient[Document] = AsyncMongoClient(env["MFA_MONGODB_URL"], tz_aware=True)
    credentials = CredentialStore(client[enrollment.database])
    authenticators = AuthenticatorStore(client[verification.database])
    view = AuthenticatorView(client[gateway.database])
    box = SecretBox(enrollment.keyring)
    now = datetime.now(UTC)
    secrets: dict[str, str] = {}

    async def enroll(user_id: str) -> None:
        user = UserRef(DEFAULT_ORGANIZATION, user_id)  # where the development keys sign in
        secret = new_secret()
        credential = new_credential(user, f"{user_id}@example.com", now, timedelta(minutes=10))
        sealed = box.seal(secret, credential_context(user, credential.credential_id))
        assert await credentials.put_new(credential, sealed, replacing=None)
        assert await credentials.confirm(user, credential.credential_id, now)
        assert await authenticators.register(user, credential.credential_id, sealed, now)
        await view.issued(user, credential.credential_id, now, confirmed_at=now)
        secrets[user_id] = secret

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
