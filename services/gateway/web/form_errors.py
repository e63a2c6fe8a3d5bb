"""A hosted page's form or link that reaches its route malformed (a field missing, too
long, not a number) is answered with a page, never the API's JSON (issue 23).

The forms' own limits (``maxlength``, ``required``, choices) match their routes', so a
person filling them in never lands here: this answers a stale page, a changed one, or
a request made by hand, with what was wrong and the way back to the form."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from services.gateway.web.pages import Web, refuse_forgery

FIELD_NAMES = {
    "csrf_token": "The form's security token",
    "code": "The authentication code",
    "recovery_code": "The recovery code",
    "api_key": "The admin API key",
    "credential": "The passkey's answer",
    "passkey_id": "The passkey",
    "version": "The policy's version",
    "other_type": "The other type of user",
    "user": "The user",
    "remember_device_days": "The days a browser is remembered",
    "q": "The search",
}
PROBLEMS = {
    "missing": "is missing",
    "string_too_long": "is too long",
    "string_too_short": "is too short",
}


def is_page(request: Request) -> bool:
    """Everything but the JSON API (``/v1/...``) is a hosted page."""
    return not request.url.path.startswith("/v1/")


def back_to(path: str, user_id: str | None = None) -> str:
    """The page whose form (or link) sent the request."""
    parts = path.strip("/").split("/")
    if parts[0] == "mfa" and len(parts) > 1:
        return f"/mfa/{parts[1]}"
    if parts[0] == "admin":
        if parts[1:2] == ["imports"]:
            return "/admin/imports"
        return "/admin" if user_id is None else f"/admin/users?q={quote(user_id)}"
    if parts[0] in ("passkeys", "recovery-codes", "forget-browser"):
        return "/signed-in"
    return "/"


def problems(exc: RequestValidationError) -> list[str]:
    said = []
    for error in exc.errors():
        field = str(error["loc"][-1])
        name = FIELD_NAMES.get(field, f"The field “{field}”")
        said.append(f"{name} {PROBLEMS.get(error['type'], 'is not valid')}.")
    return list(dict.fromkeys(said))


def page_error(request: Request, exc: Exception) -> Response | None:
    """A page for what went wrong with a hosted page's request (None: an API request,
    or an error the API's handlers answer for pages too)."""
    if not is_page(request):
        return None
    if isinstance(exc, RequestValidationError):
        return form_error_page(request, exc)
    return http_error_page(request, exc) if isinstance(exc, HTTPException) else None


def http_error_page(request: Request, exc: HTTPException) -> Response | None:
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:  # a form's address, opened
        return RedirectResponse(back_to(request.url.path), status.HTTP_303_SEE_OTHER)
    if exc.status_code == status.HTTP_404_NOT_FOUND:
        return message_page(request, 404, "Page not found", "There is no page at this address.")
    if exc.status_code == status.HTTP_400_BAD_REQUEST:  # a body that is not a form
        return message_page(request, 422, "That form could not be read", "Send it again.")
    return None


def message_page(request: Request, status_code: int, title: str, text: str) -> HTMLResponse:
    return _render(request, "message.html", status_code, title=title, text=text, restart=True)


def form_error_page(request: Request, exc: RequestValidationError) -> HTMLResponse:
    """The page for a hosted page's malformed form or link."""
    session = getattr(request.state, "session", None)
    if session is not None and any(e["loc"][-1] == "csrf_token" for e in exc.errors()):
        return refuse_forgery(request.app.state.web, request, session)  # as a wrong token
    back = back_to(request.url.path, request.path_params.get("user_id"))
    return _render(request, "form_error.html", 422, problems=problems(exc), back=back)


def _render(request: Request, template: str, status_code: int, **context: Any) -> HTMLResponse:
    """The page, with the browser's session when its route got that far (a form), or
    none (an address no route answers)."""
    web: Web = request.app.state.web
    if (session := getattr(request.state, "session", None)) is not None:
        return web.render(request, template, session, status_code, **context)
    bare = {"session": None, "csrf_token": "", "is_admin": False, "now": web.clock.now()}
    return web.templates.TemplateResponse(request, template, bare | context, status_code)
