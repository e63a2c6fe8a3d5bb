"""Hosted pages for what a user does on their own: sign in with a recovery code, get a
new set, and forget a remembered browser."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.gateway.use_cases.errors import NotAppliedInTime, Refused
from services.gateway.web.mfa_step import check_code
from services.gateway.web.pages import (
    DEVICE_COOKIE,
    Csrf,
    CurrentSession,
    Pages,
    mfa_page,
    refuse_forgery,
    see_other,
)

router = APIRouter(include_in_schema=False)


@router.post("/mfa/{login_id}/recovery")
async def use_recovery_code(
    request: Request,
    login_id: str,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    recovery_code: Annotated[str, Form()] = "",  # any length: said beside the field
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    typed = "".join(recovery_code.split()).replace("-", "")
    if not (typed.isascii() and typed.isalnum() and len(typed) == 10):
        session.flash = {
            "error": "A recovery code has 10 letters and digits, like abcde-23456.",
            "kind": "recovery",
        }
        return see_other(mfa_page(login_id))
    return await check_code(pages, request, session, login_id, typed, "recovery_code")


@router.post("/recovery-codes")
async def new_recovery_codes(
    request: Request, pages: Pages, session: CurrentSession, csrf: Csrf
) -> Response:
    """A new set for the signed-in user, while the sign-in that passed a code is fresh."""
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    if session.user is None or session.mfa_login is None or session.mfa_caller is None:
        return see_other("/")
    try:
        codes = await pages.self_service.new_recovery_codes(
            session.mfa_login, session.user.organization_id, session.mfa_caller
        )
    except (Refused, NotAppliedInTime):
        session.flash = {"error": "Sign in again (with a code) to get new recovery codes."}
        return see_other("/signed-in")
    return pages.render(
        request, "recovery_codes.html", session, codes=codes, continue_url="/signed-in"
    )


@router.post("/forget-browser")
async def forget_browser(
    request: Request, pages: Pages, session: CurrentSession, csrf: Csrf
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    token = request.cookies.get(DEVICE_COOKIE)
    if token and session.user:
        await pages.self_service.forget_device(token, session.user.organization_id)
    session.flash = {"notice": "This browser is forgotten: your next sign-in asks for a code."}
    response = see_other("/signed-in")
    response.delete_cookie(DEVICE_COOKIE, path="/", secure=pages.secure_cookies, httponly=True)
    return response
