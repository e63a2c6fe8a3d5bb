"""The JSON API: HTTP in, a flow call, HTTP out."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import choose_encoder

from services.gateway.api.auth import require
from services.gateway.api.schemas import (
    KEYED,
    Alive,
    CodeError,
    CodeRefused,
    CodeRequest,
    DeviceForgotten,
    DeviceRemembered,
    ForgetDeviceRequest,
    LoginRequest,
    LoginState,
    PasskeyRequest,
    Readiness,
    RecoveryCodesState,
    json_refusals,
    login_state,
    refusals,
)
from services.gateway.domain.login import Login
from services.gateway.presentation.passkeys import compact
from services.gateway.presentation.wording import locked_message, refusal_wording
from services.gateway.settings import MAX_WAIT_SECONDS
from services.gateway.state import gateway_state
from services.gateway.stores.api_keys import Caller
from services.gateway.use_cases.administration import AdminFlow
from services.gateway.use_cases.errors import LoginExpired
from services.gateway.use_cases.login import CodeResult, LoginFlow
from services.gateway.use_cases.self_service import SelfService
from shared.clock import Clock
from shared.crypto import SecretBox
from shared.events import CodeKind
from shared.identity import InvalidId, UserRef, canonical_user_id

router = APIRouter()

ClientCaller = Annotated[Caller, Depends(require("client"))]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
OperatorCaller = Annotated[Caller, Depends(require("operator"))]


async def _user_in_path(
    caller: AdminCaller, user_id: Annotated[str, Path(min_length=1, max_length=512)]
) -> UserRef:
    """The caller's organization's user named in the path, in any spelling."""
    try:
        return UserRef(caller.organization_id, canonical_user_id(user_id))
    except InvalidId as exc:
        error = {"loc": ("path", "user_id"), "msg": str(exc), "type": "value_error"}
        raise RequestValidationError([error]) from None


UserInPath = Annotated[UserRef, Depends(_user_in_path)]


# Dependencies are coroutines, even those that await nothing: FastAPI runs a plain
# function in its thread pool, a hand-off measured on every request (bench/README.md).
async def _logins(request: Request) -> LoginFlow:
    return gateway_state(request).login_flow


async def _admin(request: Request) -> AdminFlow:
    return gateway_state(request).admin_flow


class Presenter:
    def __init__(self, clock: Clock, box: SecretBox) -> None:
        self.clock = clock
        self.box = box

    def state(self, login: Login) -> LoginState:
        return login_state(login, self.clock.now(), self.box)


async def _presenter(request: Request) -> Presenter:
    state = gateway_state(request)
    return Presenter(state.clock, state.box)


async def _self_service(request: Request) -> SelfService:
    return gateway_state(request).self_service


Logins = Annotated[LoginFlow, Depends(_logins)]
Self = Annotated[SelfService, Depends(_self_service)]
Admin = Annotated[AdminFlow, Depends(_admin)]
Present = Annotated[Presenter, Depends(_presenter)]


CODE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **refusals(*KEYED, 404, 409, 410, 413, 422, 429),
    400: {"model": CodeRefused, "description": "A wrong, late or reused code (or passkey)"},
    423: {"model": CodeRefused, "description": "The user is locked (locked_until)"},
    504: {"model": CodeRefused, "description": "Verification did not answer in time"},
}


@router.post(
    "/v1/logins",
    status_code=status.HTTP_201_CREATED,
    tags=["logins"],
    responses=CODE_RESPONSES,
)
async def start_login(
    body: LoginRequest, caller: ClientCaller, flow: Logins, present: Present, own: Self
) -> LoginState:
    """Start a login. With `wait`, its decision comes in this answer. With `code` (or
    `recovery_code`) too, a daily login is decided, checked and answered in this one
    request: `authenticated`, or the refusal POST /v1/logins/{id}/code gives (its body
    names the login, to try again there). A user still to enroll gets
    `enrollment_required` and one MFA does not cover `authenticated`: their code is
    never checked."""
    login = await flow.start(
        caller.key_id,
        UserRef(caller.organization_id, body.user_id),
        str(body.email),
        body.user_type,
        require_mfa=body.require_mfa,
        device_token=body.device_token,
    )
    typed = body.code or body.recovery_code
    if body.wait is None and typed is None:
        return present.state(login)
    kind: CodeKind = "recovery_code" if body.recovery_code else "totp"
    seconds = body.wait if body.wait is not None else MAX_WAIT_SECONDS
    decided, result = await flow.decide_and_check(login, typed, caller.key_id, kind, seconds)
    if result is None:
        return present.state(decided)
    return await _answer(login.login_id, result, kind, caller, present, own)


@router.get("/v1/logins/{login_id}", tags=["logins"], responses=refusals(*KEYED, 404, 422))
async def get_login(
    login_id: str,
    caller: ClientCaller,
    flow: Logins,
    present: Present,
    own: Self,
    wait: Annotated[
        float | None,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Seconds to wait while the login is pending (capped by the "
            "gateway's MFA_MAX_WAIT_SECONDS); absent: answer at once",
        ),
    ] = None,
) -> LoginState:
    """The login as it stands. Recovery codes that this key's confirming code issued,
    and whose answer was lost (a 504), come with the first read after it, once."""
    login = await flow.wait(login_id, caller.organization_id, wait or 0)
    state = present.state(login)
    state.recovery_codes = await own.take_recovery_codes(login, caller.key_id, answer_lost=True)
    return state


@router.post("/v1/logins/{login_id}/code", tags=["logins"], responses=CODE_RESPONSES)
async def submit_code(
    login_id: str,
    body: CodeRequest,
    caller: ClientCaller,
    flow: Logins,
    present: Present,
    own: Self,
) -> LoginState:
    """An app's code, or a recovery code; the answer to the code that confirms a new
    authenticator carries the user's recovery codes, this once."""
    kind: CodeKind = "totp" if body.code else "recovery_code"
    typed = body.code or body.recovery_code or ""
    result = await flow.submit_code(
        login_id, caller.organization_id, typed, caller.key_id, kind=kind
    )
    return await _answer(login_id, result, kind, caller, present, own)


@router.post(
    "/v1/logins/{login_id}/passkey",
    tags=["logins"],
    responses=CODE_RESPONSES,
)
async def submit_passkey(
    login_id: str,
    body: PasskeyRequest,
    caller: ClientCaller,
    flow: Logins,
    present: Present,
    own: Self,
) -> LoginState:
    """The browser's answer to the login's ``passkey`` options: a registration (the
    login then passes, and its answer carries the user's first recovery codes if this
    is their first authenticator) or a sign-in. A refused passkey counts toward the
    user's lockout as a wrong code does (a refused registration does not)."""
    answer = compact(body.credential)
    result = await flow.submit_code(
        login_id, caller.organization_id, answer, caller.key_id, kind="passkey"
    )
    return await _answer(login_id, result, "passkey", caller, present, own)


async def _answer(
    login_id: str,
    result: CodeResult,
    kind: CodeKind,
    caller: Caller,
    present: Presenter,
    own: SelfService,
) -> LoginState:
    if result.outcome is not None and result.outcome.accepted:
        if result.login.status != "authenticated":  # ended meanwhile, e.g. by a reset
            raise LoginExpired(login_id)
        state = present.state(result.login)
        # This code confirmed the authenticator: the codes it issued, this once.
        state.recovery_codes = await own.take_recovery_codes(result.login, caller.key_id)
        return state
    raise CodeRefusal(*refusal(result, present, kind))


@router.post(
    "/v1/logins/{login_id}/recovery-codes",
    tags=["self-service"],
    responses=refusals(*KEYED, 404, 409, 422, 504),
)
async def new_recovery_codes(login_id: str, caller: ClientCaller, own: Self) -> RecoveryCodesState:
    """A new set of recovery codes for the user of a login that just passed a code (until
    the login expires); the old set stops working."""
    codes = await own.new_recovery_codes(login_id, caller.organization_id, caller.key_id)
    return RecoveryCodesState(recovery_codes=codes)


@router.post(
    "/v1/logins/{login_id}/device",
    status_code=status.HTTP_201_CREATED,
    tags=["self-service"],
    responses=refusals(*KEYED, 404, 409, 422),
)
async def remember_device(login_id: str, caller: ClientCaller, own: Self) -> DeviceRemembered:
    """A token that lets this device skip the code for the user's logins, for as many days
    as the organization's policy says; once per login that passed a code."""
    issued = await own.remember_device(login_id, caller.organization_id, caller.key_id)
    return DeviceRemembered(device_token=issued.token, expires_at=issued.expires_at)


@router.post("/v1/devices/forget", tags=["self-service"], responses=refusals(*KEYED, 413, 422))
async def forget_device(
    body: ForgetDeviceRequest, caller: ClientCaller, own: Self
) -> DeviceForgotten:
    """The user forgets a remembered device: its token stops working."""
    return DeviceForgotten(
        forgotten=await own.forget_device(body.device_token, caller.organization_id)
    )


class CodeRefusal(Exception):
    def __init__(self, http_status: int, body: CodeRefused) -> None:
        self.http_status = http_status
        self.body = body


def refusal(result: CodeResult, present: Presenter, kind: str) -> tuple[int, CodeRefused]:
    state = present.state(result.login).model_dump()
    outcome = result.outcome
    if outcome is None:
        error = CodeError(
            code="verification_timeout",
            message="Checking the code took too long. Try again in a moment.",
        )
        return status.HTTP_504_GATEWAY_TIMEOUT, CodeRefused(**state, error=error)
    if outcome.reason == "locked" or (outcome.locked_until and outcome.attempts_left == 0):
        error = CodeError(
            code="locked", message=locked_message(outcome.locked_until), attempts_left=0
        )
        return status.HTTP_423_LOCKED, CodeRefused(
            **state, error=error, locked_until=outcome.locked_until
        )
    code, message = refusal_wording(kind, outcome.reason or "invalid")
    error = CodeError(
        code=code,
        message=message,
        attempts_left=outcome.attempts_left,
    )
    return status.HTTP_400_BAD_REQUEST, CodeRefused(**state, error=error)


@router.get(
    "/metrics",
    tags=["health"],
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus text, or OpenMetrics when asked for",
            "content": {
                CONTENT_TYPE_LATEST: {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}},
            },
        },
        **json_refusals(401, 403),
    },
)
async def metrics(request: Request, _: OperatorCaller) -> Response:
    """Prometheus exposition (OpenMetrics when the scraper asks for it); scrape with an
    operator key as the bearer token.

    The figures span every organization, so no organization's admin key reads them.
    """
    encode, media_type = choose_encoder(request.headers.get("accept", ""))
    # Collecting reads group backlogs from Redis with a blocking client: off the loop.
    body = await asyncio.to_thread(encode, gateway_state(request).metrics)
    return Response(body, media_type=media_type)


UNAUTHENTICATED: dict[str, Any] = {"security": []}  # probes present no key


@router.get("/healthz", tags=["health"], openapi_extra=UNAUTHENTICATED)
async def healthz() -> Alive:
    return Alive()


@router.get(
    "/readyz",
    tags=["health"],
    openapi_extra=UNAUTHENTICATED,
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 when this gateway can serve (Redis and MongoDB answer); live replicas of the
    downstream services are reported in ``downstream``, not in the status."""
    health = await gateway_state(request).readiness.check()
    answer = Readiness(
        status="ready" if health.ready else "not_ready",
        checks=health.checks,
        downstream=health.downstream,
    )
    return JSONResponse(answer.model_dump(), status_code=200 if health.ready else 503)
