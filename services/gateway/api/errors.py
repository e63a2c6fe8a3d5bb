"""Every refusal answers ``{"error": {"code", "message", ...}}`` and names what was wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pymongo.errors import ConnectionFailure
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from services.gateway.api.routes import CodeRefusal
from services.gateway.use_cases.errors import (
    LoginExpired,
    LoginNotFound,
    NotAppliedInTime,
    NotWaitingForCode,
    PasskeyNotFound,
    PolicyConflict,
    Refused,
    TooManyCodes,
)

log = structlog.get_logger("mfa.gateway")

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
}


def _error(http_status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=http_status
    )


PageAnswer = Callable[[Request, Exception], Response | None]


def install_error_handlers(app: FastAPI, page_answer: PageAnswer = lambda _, __: None) -> None:
    """The API's errors as JSON; ``page_answer`` answers a hosted page's malformed form,
    or a wrong address or method (None: not a page's request)."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if (page := page_answer(request, exc)) is not None:
            return page
        fields = [
            {
                "field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return _error(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid_request", message, fields=fields
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if (page := page_answer(request, exc)) is not None:
            return page
        if exc.status_code == status.HTTP_400_BAD_REQUEST:  # FastAPI: a body not JSON
            fields = [{"field": "body", "message": "not valid JSON"}]
            return _error(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "invalid_request",
                "body: not valid JSON",
                fields=fields,
            )
        response = _error(
            exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)
        )
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(CodeRefusal)
    async def code_refused(_: Request, exc: CodeRefusal) -> JSONResponse:
        return JSONResponse(exc.body.model_dump(mode="json"), status_code=exc.http_status)

    @app.exception_handler(LoginNotFound)
    async def login_not_found(_: Request, __: LoginNotFound) -> JSONResponse:
        return _error(404, "login_not_found", "No such login.")

    @app.exception_handler(PasskeyNotFound)
    async def passkey_not_found(_: Request, __: PasskeyNotFound) -> JSONResponse:
        return _error(404, "not_found", "The user holds no such passkey.")

    @app.exception_handler(LoginExpired)
    async def login_expired(_: Request, __: LoginExpired) -> JSONResponse:
        return _error(410, "login_expired", "This login has expired. Start a new login.")

    @app.exception_handler(NotWaitingForCode)
    async def not_waiting(_: Request, exc: NotWaitingForCode) -> JSONResponse:
        return _error(
            409,
            "not_waiting_for_code",
            f"This login is {exc.status} and is not waiting for a code.",
            status=exc.status,
        )

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return _error(409, exc.code, exc.message)

    @app.exception_handler(TooManyCodes)
    async def too_many_codes(_: Request, exc: TooManyCodes) -> JSONResponse:
        if exc.per == "login":
            return _error(
                429, "too_many_codes", "Too many codes for this login. Start a new login."
            )
        response = _error(429, "too_many_codes", "Too many codes from this client. Wait a minute.")
        response.headers["Retry-After"] = "60"
        return response

    @app.exception_handler(PolicyConflict)
    async def policy_changed(_: Request, exc: PolicyConflict) -> JSONResponse:
        current = jsonable_encoder(exc.current.fields())
        message = f"The policy changed since you loaded it. {exc.message} Reload and reapply."
        return _error(409, "policy_changed", message, current=current)

    @app.exception_handler(NotAppliedInTime)
    async def not_applied(_: Request, exc: NotAppliedInTime) -> JSONResponse:
        return _error(
            504,
            "not_applied_in_time",
            "The change was accepted but not yet confirmed by: "
            f"{', '.join(sorted(exc.waiting_for))}. It will apply when they recover.",
            waiting_for=sorted(exc.waiting_for),
        )

    @app.exception_handler(RedisError)
    async def redis_down(_: Request, exc: RedisError) -> JSONResponse:
        log.error("redis_unavailable", error=type(exc).__name__)
        return _unavailable("The event bus is unavailable. Try again shortly.")

    @app.exception_handler(ConnectionFailure)
    async def mongodb_down(_: Request, exc: ConnectionFailure) -> JSONResponse:
        log.error("mongodb_unavailable", error=type(exc).__name__)
        return _unavailable("The database is unavailable. Try again shortly.")


def _unavailable(message: str) -> JSONResponse:
    response = _error(503, "unavailable", message)
    response.headers["Retry-After"] = "1"
    return response
