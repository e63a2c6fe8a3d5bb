"""The gateway's application state: one typed object, built once by create_app, that
every route reaches through ``gateway_state`` (no untyped ``app.state`` look-ups)."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.redis import RedisBroker
from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection

from services.gateway.readiness import Readiness
from services.gateway.stores.api_keys import ApiKeys, KeyStore
from services.gateway.stores.organizations import Organizations
from services.gateway.use_cases.administration import AdminFlow
from services.gateway.use_cases.imports import ImportFlow
from services.gateway.use_cases.login import LoginFlow
from services.gateway.use_cases.passkeys import PasskeyService
from services.gateway.use_cases.self_service import SelfService
from shared.clock import Clock
from shared.crypto import SecretBox


@dataclass(frozen=True)
class GatewayState:
    login_flow: LoginFlow
    admin_flow: AdminFlow
    self_service: SelfService
    passkeys: PasskeyService
    imports: ImportFlow
    api_keys: ApiKeys
    organizations: Organizations
    keys: KeyStore
    clock: Clock
    box: SecretBox
    readiness: Readiness
    metrics: CollectorRegistry
    broker: RedisBroker


def gateway_state(connection: HTTPConnection) -> GatewayState:
    state = connection.app.state.gateway
    if not isinstance(state, GatewayState):  # only create_app sets it
        raise TypeError("the gateway's state is not set")
    return state
