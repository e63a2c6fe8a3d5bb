"""Wiring for the verification service: the one place that builds clients."""

from __future__ import annotations

from datetime import timedelta

from faststream import FastStream
from prometheus_client import CollectorRegistry, Counter, Histogram

from services.verification import upgrade
from services.verification.codes import CodeChecks
from services.verification.handlers import VerificationHandlers
from services.verification.hotp import HotpRules
from services.verification.passkeys import PasskeyHandlers
from services.verification.settings import VerificationSettings
from services.verification.store import AuthenticatorStore
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox
from shared.events import (
    AuthenticatorResetApplied,
    CodeRejected,
    CodeSubmitted,
    CodeVerified,
    PasskeyChallenged,
    RecoveryCodesIssued,
)
from shared.service import stream_service


def create_app(
    settings: VerificationSettings | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> FastStream:
    settings = settings or VerificationSettings()
    service = stream_service(settings, streams.VERIFICATION_GROUP, clock, registry)
    store = AuthenticatorStore(service.database)
    publisher, consumer = service.wiring.publisher, service.wiring.consumer
    box = SecretBox(settings.keyring)
    verified = publisher(streams.CODE_VERIFIED, CodeVerified)
    answer_memory = timedelta(seconds=settings.answer_memory_seconds)
    passkeys = PasskeyHandlers(
        store=store,
        box=box,
        clock=service.clock,
        challenge_ttl=timedelta(seconds=settings.passkey_challenge_seconds),
        answer_memory=answer_memory,
        credential_wait_seconds=settings.credential_wait_seconds,
        challenged=publisher(streams.PASSKEY_CHALLENGED, PasskeyChallenged),
        verified=verified,
    )
    hotp = HotpRules(look_ahead=settings.hotp_look_ahead)
    codes = CodeChecks(
        store=store,
        box=box,
        clock=service.clock,
        totp=settings.totp_rules(),
        hotp=hotp,
        lockout=settings.lockout_rules(),
        credential_wait_seconds=settings.credential_wait_seconds,
        answer_memory=answer_memory,
        checks=Counter(
            "mfa_code_checks", "Codes checked, by outcome", ["outcome"], registry=service.registry
        ),
        drift=Histogram(
            "mfa_totp_step_offset",
            "Accepted app codes by their step minus the current step (the app clock's drift)",
            buckets=(-2.5, -1.5, -0.5, 0.5, 1.5, 2.5),
            registry=service.registry,
        ),
        verified=verified,
        rejected=publisher(streams.CODE_REJECTED, CodeRejected),
        publishing=settings.concurrency,
    )
    handlers = VerificationHandlers(
        store=store,
        box=box,
        clock=service.clock,
        hotp=hotp,
        answer_memory=answer_memory,
        reset_applied=publisher(streams.AUTHENTICATOR_RESET_APPLIED, AuthenticatorResetApplied),
        codes_issued=publisher(streams.RECOVERY_CODES_ISSUED, RecoveryCodesIssued),
        passkeys=passkeys,
    )
    consumer(streams.ENROLLMENT_ISSUED)(passkeys.on_enrollment_issued)
    consumer(streams.PASSKEYS_REMOVED)(handlers.on_passkeys_removed)
    consumer(streams.TOKEN_RESYNCED)(handlers.on_token_resynced)
    consumer(streams.CREDENTIAL_REGISTERED)(handlers.on_credential_registered)
    service.wiring.batch_consumer(streams.CODE_SUBMITTED, CodeSubmitted)(codes.on_codes_submitted)
    consumer(streams.AUTHENTICATOR_RESET)(handlers.on_authenticator_reset)
    consumer(streams.AUTHENTICATOR_UNLOCKED)(handlers.on_authenticator_unlocked)
    consumer(streams.RECOVERY_CODES_REQUESTED)(handlers.on_recovery_codes_requested)

    async def prepare() -> None:
        await upgrade.bring_into_organizations(service.database, handlers.box)

    return service.app(prepare)
