"""Hosted pages for a signed-in user's passkeys: add one, remove one. Both need the
sign-in that just passed (as new recovery codes do); the list itself is on /signed-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.gateway.presentation.passkeys import MAX_PASSKEY_ANSWER, compact, parsed_answer
from services.gateway.presentation.wording import refusal_wording
from services.gateway.use_cases.errors import (
    NotAppliedInTime,
    PasskeyNotFound,
    Refused,
    TooManyCodes,
)
from services.gateway.web.page_models import PASSKEY_NOT_SENT, passkey_view
from services.gateway.web.pages import Csrf, CurrentSession, Pages, refuse_forgery, see_other
from services.gateway.web.sessions import Session

router = APIRouter(include_in_schema=False)

SIGN_IN_AGAIN = "Sign in again (with a code or passkey) to change your passkeys."


def _fresh(session: Session) -> tuple[str, str, str] | None:
    """The sign-in that just passed, its organization and who passed it."""
    if session.user is None or session.mfa_login is None or session.mfa_caller is None:
        return None
    return session.mfa_login, session.user.organization_id, session.mfa_caller


@router.post("/passkeys/new")
async def new_passkey(
    request: Request, pages: Pages, session: CurrentSession, csrf: Csrf
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    if (fresh := _fresh(session)) is None:
        session.flash = {"error": SIGN_IN_AGAIN}
        return see_other("/signed-in")
    try:
        options = await pages.passkeys.begin(*fresh)
    except Refused as refused:
        session.flash = {"error": refused.message}
        return see_other("/signed-in")
    except NotAppliedInTime:
        session.flash = {"error": "That took too long. Try again in a moment."}
        return see_other("/signed-in")
    return pages.render(
        request,
        "add_passkey.html",
        session,
        passkey=passkey_view("registration", options, "/passkeys"),
        login_id=fresh[0],
    )


@router.post("/passkeys")
async def add_passkey(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    credential: Annotated[str, Form(max_length=MAX_PASSKEY_ANSWER)] = "",
) -> Response:
    """The browser's answer to the options /passkeys/new showed."""
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    if (fresh := _fresh(session)) is None:
        session.flash = {"error": SIGN_IN_AGAIN}
        return see_other("/signed-in")
    try:
        answer = compact(parsed_answer(credential))
        result = await pages.passkeys.add(*fresh, answer)
    except ValueError:
        session.flash = {"error": PASSKEY_NOT_SENT}
        return see_other("/signed-in")
    except (Refused, TooManyCodes):
        session.flash = {"error": SIGN_IN_AGAIN}
        return see_other("/signed-in")
    if result.outcome is None:
        session.flash = {"error": "That took too long. Try again in a moment."}
    elif result.outcome.accepted:
        session.flash = {"notice": "Passkey added. You can sign in with it from now on."}
    else:
        session.flash = {"error": refusal_wording("passkey", result.outcome.reason or "")[1]}
    return see_other("/signed-in")


@router.post("/passkeys/remove")
async def remove_passkey(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    passkey_id: Annotated[str, Form(max_length=1400)] = "",
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    if (fresh := _fresh(session)) is None:
        session.flash = {"error": SIGN_IN_AGAIN}
        return see_other("/signed-in")
    try:
        await pages.passkeys.remove(*fresh, passkey_id)
    except Refused as refused:
        session.flash = {"error": refused.message}
    except PasskeyNotFound:
        session.flash = {"error": "That passkey is already gone."}
    except NotAppliedInTime:
        session.flash = {"error": "That took too long. Look again in a moment."}
    else:
        session.flash = {"notice": "Passkey removed. It no longer signs you in."}
    return see_other("/signed-in")
