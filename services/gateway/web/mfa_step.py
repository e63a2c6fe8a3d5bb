"""The MFA step of any login on a hosted page: QR or code field, the code (or a
recovery code) checked, "remember this browser", and the end of the step."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.domain.login import Login, accepts, may_have_more_time, visible_status
from services.gateway.presentation.passkeys import MAX_PASSKEY_ANSWER, compact, parsed_answer
from services.gateway.use_cases.errors import (
    LoginExpired,
    LoginNotFound,
    NotWaitingForCode,
    OpenElsewhere,
    Refused,
    TooManyCodes,
)
from services.gateway.web.directory import DirectoryUser
from services.gateway.web.page_models import (
    PASSKEY_NOT_SENT,
    code_error,
    enrollment_view,
    passkey_view,
)
from services.gateway.web.pages import (
    DEVICE_COOKIE,
    Csrf,
    CurrentSession,
    Pages,
    Web,
    mfa_page,
    refuse_forgery,
    see_other,
)
from services.gateway.web.sessions import Session
from shared.events import CodeKind

router = APIRouter(include_in_schema=False)


@router.get("/mfa/{login_id}", response_class=HTMLResponse)
async def mfa_step(
    request: Request,
    login_id: str,
    pages: Pages,
    session: CurrentSession,
    use: Annotated[Literal["passkey", "app"] | None, Query()] = None,
) -> Response:
    try:
        login = await pages.logins.open_in_browser(login_id, session.id)
    except LoginNotFound:
        return pages.render(
            request,
            "message.html",
            session,
            404,
            title="Sign-in not found",
            text="This sign-in does not exist.",
            restart=True,
        )
    except OpenElsewhere:
        return pages.render(
            request,
            "message.html",
            session,
            403,
            title="Open elsewhere",
            text="This sign-in was opened in another browser. Start a new sign-in here.",
            restart=True,
        )
    login = await pages.logins.wait(login_id, login.organization_id, 5)
    return await show_step(pages, request, session, login, use)


async def show_step(
    pages: Web, request: Request, session: Session, login: Login, use: str | None = None
) -> Response:
    """The page for where the login stands: QR, code field, or its end."""
    now = pages.clock.now()
    status = visible_status(login, now)
    if status == "authenticated":
        return await finish(pages, request, session, login)
    if status == "expired":
        return pages.render(
            request,
            "message.html",
            session,
            410,
            title="Sign-in expired",
            text="This sign-in took too long. Start again.",
            restart=True,
        )
    if status == "pending":
        return pages.render(request, "pending.html", session)
    policy = await pages.admin.policy(login.organization_id)
    # A lock shows when the page opens, not after a code typed in vain (issue 23).
    locked = login.locked_until if status == "locked" else await pages.logins.locked_until(login)
    context: dict[str, Any] = {
        "login_id": login.login_id,
        "server_time": now.timestamp(),
        "open_until": login.expires_at,
        "more_time": may_have_more_time(login, now, use),
        "use": use,
        "locked_until": locked,
        "account": login.email,
        "remember_days": policy.rules.remember_device_days,
        "digits": login.digits,
        "period": login.period,
    }
    if status == "enrollment_required" and login.enrollment:
        return enrollment_page(pages, request, session, login, use, context)
    if login.passkey_authentication and "passkey" in login.kinds:
        context["passkey"] = passkey_view(
            "authentication", login.passkey_authentication, mfa_page(login.login_id, "passkey")
        )
    context["app_code"] = "totp" in login.kinds
    # An imported app's first code confirms it: no recovery codes exist before it.
    context["recovery"] = accepts(login, "recovery_code")
    return pages.render(request, "code.html", session, **context)


def enrollment_page(
    pages: Web,
    request: Request,
    session: Session,
    login: Login,
    use: str | None,
    context: dict[str, Any],
) -> Response:
    """The user without an authenticator: a passkey, an app, or the choice of the two
    (the policy may leave only one)."""
    assert login.enrollment is not None  # noqa: S101 - the caller checked
    registration = login.enrollment.passkey_registration
    app = login.enrollment.otpauth_uri is not None
    choose = f"{mfa_page(login.login_id)}?use="
    if registration and app and use is None:
        return pages.render(
            request,
            "choose.html",
            session,
            passkey_url=choose + "passkey",
            app_url=choose + "app",
            **context,
        )
    if registration and (use == "passkey" or not app):
        context["passkey"] = passkey_view(
            "registration", registration, mfa_page(login.login_id, "passkey")
        )
        context["app_url"] = choose + "app" if app else None
        return pages.render(request, "enroll_passkey.html", session, **context)
    if not app:  # neither could be offered (a reset crossed the offer): start over
        return pages.render(
            request,
            "message.html",
            session,
            409,
            title="Start again",
            text="Your authenticator changed while this sign-in was opening. Sign in again.",
            restart=True,
        )
    context["enrollment"] = enrollment_view(login, pages.box)
    return pages.render(request, "enroll.html", session, **context)


@router.post("/mfa/{login_id}/more-time")
async def keep_open(
    request: Request,
    login_id: str,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    use: Annotated[Literal["passkey", "app"] | None, Form()] = None,
) -> Response:
    """The time-limit warning's button (WCAG 2.2.1): the sign-in stays open longer, and
    the user is back on the step they were on."""
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    back = mfa_page(login_id) + (f"?use={use}" if use else "")
    try:
        login = await pages.logins.open_in_browser(login_id, session.id)
    except (LoginNotFound, OpenElsewhere):
        return see_other(back)  # the page says what happened
    if await pages.logins.keep_open(login, use):
        session.flash = {"notice": "Done: this sign-in stays open longer."}
    else:
        session.flash = {
            "notice": "This sign-in cannot stay open longer. Finish it, or "
            "sign in again when it closes."
        }
    return see_other(back)


@router.post("/mfa/{login_id}/passkey")
async def submit_passkey(
    request: Request,
    login_id: str,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    credential: Annotated[str, Form(max_length=MAX_PASSKEY_ANSWER)] = "",
) -> Response:
    """The browser's answer to the page's passkey options, sent by /static/mfa.js."""
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    try:
        answer = parsed_answer(credential)
    except ValueError:  # what the script sends, unless the page was tampered with
        session.flash = {"error": PASSKEY_NOT_SENT, "kind": "passkey"}
        return see_other(mfa_page(login_id) + "?use=passkey")
    return await check_code(pages, request, session, login_id, compact(answer), "passkey")


@router.post("/mfa/{login_id}/code")
async def submit_code(
    request: Request,
    login_id: str,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    code: Annotated[str, Form()] = "",  # any length (the body is bounded): said beside it
    remember: Annotated[bool, Form()] = False,
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    digits = "".join(code.split())
    if len(digits) not in (6, 8) or not (digits.isascii() and digits.isdigit()):
        session.flash = {"error": "Enter the digits your authenticator app shows."}
        return see_other(mfa_page(login_id))
    return await check_code(pages, request, session, login_id, digits, "totp", remember)


async def check_code(
    pages: Web,
    request: Request,
    session: Session,
    login_id: str,
    typed: str,
    kind: CodeKind,
    remember: bool = False,
) -> Response:
    """Send what the user typed; finish the sign-in (remembering the browser if asked),
    or say why not beside the field."""
    try:
        login = await pages.logins.open_in_browser(login_id, session.id)
        result = await pages.logins.submit_code(
            login_id, login.organization_id, typed, session.caller, kind=kind
        )
    except (LoginNotFound, OpenElsewhere, LoginExpired, NotWaitingForCode):
        return see_other(mfa_page(login_id))  # the page says what happened
    except TooManyCodes:
        session.flash = {"error": "Too many codes for this sign-in. Start a new sign-in."}
        return see_other(mfa_page(login_id))
    except Refused as refused:
        field = "recovery" if kind == "recovery_code" else kind  # the field it is shown by
        session.flash = {"error": refused.message, "kind": field}
        return see_other(mfa_page(login_id))
    if result.outcome and result.outcome.accepted:
        response = await finish(pages, request, session, result.login)
        if remember and result.login.status == "authenticated":
            await remember_browser(pages, result.login, response, session.caller)
        return response
    session.flash = code_error(result.outcome, kind)
    return see_other(mfa_page(login_id) + ("?use=passkey" if kind == "passkey" else ""))


async def remember_browser(pages: Web, login: Login, response: Response, typed_by: str) -> None:
    """The user ticked "remember this browser" (``typed_by``: this browser, under the
    session id it typed the code with): a device token in an HttpOnly cookie."""
    try:
        issued = await pages.self_service.remember_device(
            login.login_id, login.organization_id, typed_by
        )
    except Refused:
        return  # remembering turned off meanwhile: the sign-in itself succeeded
    response.set_cookie(
        DEVICE_COOKIE,
        issued.token,
        expires=issued.expires_at,
        path="/",
        secure=pages.secure_cookies,
        httponly=True,
        samesite="lax",
    )


async def finish(pages: Web, request: Request, session: Session, login: Login) -> Response:
    """A verified login: the demo sign-in's user is now signed in, under a new session id.

    Only a login that is authenticated now: an accepted code does not finish a login
    that a reset ended meanwhile.
    """
    if visible_status(login, pages.clock.now()) != "authenticated":
        return see_other(mfa_page(login.login_id))
    typed_by = session.caller  # before the session is renewed: the code's sender
    pending = session.pending
    next_page = mfa_page(login.login_id, "done")
    if pending and pending["login_id"] == login.login_id:
        session = await pages.renew_session(request, session)
        session.user = DirectoryUser(
            pending["organization_id"], pending["user_id"], pending["email"], pending["user_type"]
        )
        session.mfa = bool(login.mfa_required)
        # New recovery codes need a code passed now, not a remembered browser.
        passed_code = login.passed_by in ("code", "recovery_code", "passkey")
        session.mfa_login = login.login_id if passed_code else None
        session.mfa_caller = typed_by if passed_code else None
        next_page = "/signed-in"
    # Shown in this answer, once (a reload asks to send the form again, and that shows
    # the next page), and only to the browser that typed the confirming code: codes
    # never sit in a session document, and another browser holding the id sees none.
    if codes := await pages.self_service.take_recovery_codes(login, typed_by):
        return pages.render(
            request, "recovery_codes.html", session, codes=codes, continue_url=next_page
        )
    return see_other(next_page)


@router.get("/mfa/{login_id}/done", response_class=HTMLResponse)
async def verified(
    request: Request, login_id: str, pages: Pages, session: CurrentSession
) -> Response:
    return pages.render(
        request,
        "message.html",
        session,
        title="Verified",
        text="Your code was accepted. You can return to the application.",
    )
