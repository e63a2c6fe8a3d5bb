"""Wiring for the verification service: the one place that builds clients."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from faststream import FastStream
from faststream.redis import RedisRouter
from prometheus_client import CollectorRegistry, Counter, Histogram

from services.verification.handlers import VerificationHandlers
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared import streams
from shared.clock import Clock, SystemClock
from shared.crypto import SecretBox
from shared.events import (
    AuthenticatorResetApplied,
    CodeRejected,
    CodeVerified,
    RecoveryCodesIssued,
)
from shared.messaging import StreamWiring, build_broker
from shared.mongo import connect, run_once, service_database
from shared.service import stream_app
from shared.tracing import tracer_provider


def create_app(
    settings: VerificationSettings | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> FastStream:
    settings = settings or VerificationSettings()
    clock = clock or SystemClock(settings.clock_offset_file)
    registry = registry or CollectorRegistry()
    tracing = tracer_provider(settings)
    broker = build_broker(settings, clock, registry, tracing)
    router = RedisRouter(prefix=settings.stream_prefix)
    wiring = StreamWiring(settings, router, streams.VERIFICATION_GROUP)
    mongo = connect(settings)
    database = service_database(mongo, settings)
    store = AuthenticatorStore(database)
    handlers = VerificationHandlers(
        store=store,
        box=SecretBox(settings.keyring),
        clock=clock,
        totp=settings.totp_rules(),
        lockout=settings.lockout_rules(),
        credential_wait_seconds=settings.credential_wait_seconds,
        answer_memory=timedelta(seconds=settings.answer_memory_seconds),
        checks=Counter(
            "mfa_code_checks", "Codes checked, by outcome", ["outcome"], registry=registry
        ),
        drift=Histogram(
            "mfa_totp_step_offset",
            "Accepted app codes by their step minus the current step (the app clock's drift)",
            buckets=(-2.5, -1.5, -0.5, 0.5, 1.5, 2.5),
            registry=registry,
        ),
        verified=wiring.publisher(streams.CODE_VERIFIED, CodeVerified),
        rejected=wiring.publisher(streams.CODE_REJECTED, CodeRejected),
        reset_applied=wiring.publisher(
            streams.AUTHENTICATOR_RESET_APPLIED, AuthenticatorResetApplied
        ),
        codes_issued=wiring.publisher(streams.RECOVERY_CODES_ISSUED, RecoveryCodesIssued),
    )
    wiring.consumer(streams.CREDENTIAL_REGISTERED)(handlers.on_credential_registered)
    wiring.consumer(streams.CODE_SUBMITTED)(handlers.on_code_submitted)
    wiring.consumer(streams.AUTHENTICATOR_RESET)(handlers.on_authenticator_reset)
    wiring.consumer(streams.AUTHENTICATOR_UNLOCKED)(handlers.on_authenticator_unlocked)
    wiring.consumer(streams.RECOVERY_CODES_REQUESTED)(handlers.on_recovery_codes_requested)
    broker.include_router(router)

    async def prepare() -> None:
        move = partial(store.move_into_organizations, handlers.box)
        await run_once(database, "organizations", move)
        await store.ensure_indexes()

    return stream_app(
        settings, broker, wiring, mongo, prepare=prepare, registry=registry, tracing=tracing
    )
