"""Wiring for the enrollment service: the one place that builds clients."""

from __future__ import annotations

from datetime import timedelta

from faststream import FastStream
from prometheus_client import CollectorRegistry

from services.enrollment import upgrade
from services.enrollment.handlers import EnrollmentHandlers
from services.enrollment.imports import ImportHandlers
from services.enrollment.registrations import RegistrationHandlers
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.store import CredentialStore
from shared import streams
from shared.clock import Clock
from shared.crypto import SecretBox
from shared.events import (
    AuthenticatorImportApplied,
    AuthenticatorResetApplied,
    CodeRejected,
    CredentialRegistered,
    EnrollmentIssued,
    LoginDecided,
    PasskeyRegistrationOpened,
)
from shared.passkeys import USER_HANDLE_PURPOSE
from shared.service import stream_service


def create_app(
    settings: EnrollmentSettings | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> FastStream:
    settings = settings or EnrollmentSettings()
    service = stream_service(settings, streams.ENROLLMENT_GROUP, clock, registry)
    store = CredentialStore(service.database)
    publisher = service.wiring.publisher
    box = SecretBox(settings.keyring)
    registered = publisher(streams.CREDENTIAL_REGISTERED, CredentialRegistered)
    reset_applied = publisher(streams.AUTHENTICATOR_RESET_APPLIED, AuthenticatorResetApplied)
    handlers = EnrollmentHandlers(
        store=store,
        box=box,
        clock=service.clock,
        issuer=settings.issuer,
        offer_ttl=timedelta(seconds=settings.offer_ttl_seconds),
        handle_key=settings.keyring.derive(USER_HANDLE_PURPOSE),
        issued=publisher(streams.ENROLLMENT_ISSUED, EnrollmentIssued),
        registered=registered,
        reset_applied=reset_applied,
        publishing=settings.concurrency,
    )
    registrations = RegistrationHandlers(
        store=store,
        box=box,
        clock=service.clock,
        handle_key=settings.keyring.derive(USER_HANDLE_PURPOSE),
        offer_ttl=timedelta(seconds=settings.offer_ttl_seconds),
        registered=registered,
        rejected=publisher(streams.CODE_REJECTED, CodeRejected),
        opened=publisher(streams.PASSKEY_REGISTRATION_OPENED, PasskeyRegistrationOpened),
        removed=reset_applied,
    )
    imports = ImportHandlers(
        store=store,
        clock=service.clock,
        registered=registered,
        applied=publisher(streams.AUTHENTICATOR_IMPORT_APPLIED, AuthenticatorImportApplied),
    )
    consumer = service.wiring.consumer
    consumer(streams.AUTHENTICATOR_IMPORTED)(imports.on_authenticator_imported)
    consumer(streams.PASSKEY_REGISTRATION_SUBMITTED)(registrations.on_registration_submitted)
    consumer(streams.PASSKEY_REGISTRATION_REQUESTED)(registrations.on_registration_requested)
    consumer(streams.PASSKEYS_REMOVED)(registrations.on_passkeys_removed)
    service.wiring.batch_consumer(streams.LOGIN_DECIDED, LoginDecided)(handlers.on_logins_decided)
    service.wiring.consumer(streams.CODE_VERIFIED)(handlers.on_code_verified)
    service.wiring.consumer(streams.AUTHENTICATOR_RESET)(handlers.on_authenticator_reset)

    async def prepare() -> None:
        await upgrade.bring_into_organizations(service.database, handlers.box)
        await store.ensure_indexes()

    return service.app(prepare)
