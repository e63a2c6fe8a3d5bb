"""Hosted pages: the demo sign-in, the MFA step for any login, signed-in and sign-out.

The pages call the same flows as the JSON API; the browser adds only a session
(cookie), CSRF tokens and a post/redirect/get cycle so a reload never resubmits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.gateway.admin_flow import AdminFlow
from services.gateway.audit import AuditLog
from services.gateway.callers import ApiKeys
from services.gateway.domain import Login, visible_status
from services.gateway.flows import (
    LoginExpired,
    LoginFlow,
    LoginNotFound,
    NotWaitingForCode,
    OpenElsewhere,
    Refused,
    TooManyCodes,
)
from services.gateway.ratelimit import Throttle
from services.gateway.self_service import SelfService
from services.gateway.web.directory import DirectoryUser, UserDirectory
from services.gateway.web.page_models import code_error, enrollment_view
from services.gateway.web.sessions import COOKIE, Session, SessionStore
from shared.clock import Clock
from shared.crypto import SecretBox
from shared.events import CodeKind

router = APIRouter(include_in_schema=False)
WEB_CLIENT = "web"  # the client name of logins started by the demo sign-in
DEVICE_COOKIE = "mfa_device"  # a remembered browser's token (HttpOnly)


@dataclass(frozen=True)
class Web:
    templates: Jinja2Templates
    sessions: SessionStore
    directory: UserDirectory
    logins: LoginFlow
    admin: AdminFlow
    self_service: SelfService
    audit: AuditLog
    limiter: Throttle
    clock: Clock
    box: SecretBox
    admin_user_types: frozenset[str]
    keys: ApiKeys
    secure_cookies: bool

    def render(
        self,
        request: Request,
        template: str,
        session: Session,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        flash, session.flash = session.flash, None
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "session": session,
                "csrf_token": session.csrf_token,
                "flash": flash,
                "is_admin": self.is_admin(session),
                **context,
            },
            status_code=status_code,
        )

    async def renew_session(self, request: Request, session: Session) -> Session:
        """A new session id on every sign-in, so a planted cookie is worth nothing."""
        token, fresh = await self.sessions.rotate(session, self.clock.now())
        request.state.session_token, request.state.session = token, fresh
        return fresh

    def is_admin(self, session: Session) -> bool:
        """Console rights: an admin key, or a user of an admin type who passed a code."""
        if session.admin:
            return session.organization_id is not None
        return (
            session.user is not None
            and session.user.user_type in self.admin_user_types
            and session.mfa
        )

    async def still_admin(self, session: Session) -> bool:
        """Console rights, checked again at every request: a revoked key, or a user whose
        type is no longer an admin type, loses them at once."""
        if session.admin:
            key_id = session.admin.removeprefix("key:")
            if await self.keys.still_valid(key_id):
                return True
            session.admin = session.organization_id = None
            return False
        if not self.is_admin(session) or session.user is None:
            return False
        current = await self.directory.find(session.user.organization_id, session.user.user_id)
        if current is None or current.user_type not in self.admin_user_types:
            session.user = current  # signed out if the user is gone
            return False
        return True

    def console_organization(self, session: Session) -> str:
        """The organization an admin session sees and changes (is_admin holds)."""
        if session.admin and session.organization_id:
            return session.organization_id
        assert session.user is not None  # noqa: S101 - guarded by is_admin
        return session.user.organization_id


async def web(request: Request) -> Web:
    pages = request.app.state.web
    if not isinstance(pages, Web):  # only create_app sets it
        raise TypeError("the hosted pages' state is not set")
    return pages


async def current_session(request: Request, pages: Annotated[Web, Depends(web)]) -> Session:
    """The browser's session, created on first sight; saved after the page is built."""
    now = pages.clock.now()
    session = await pages.sessions.load(request.cookies.get(COOKIE), now)
    if session is None:
        token, session = pages.sessions.create(now)
        request.state.session_token = token
    request.state.session = session
    return session


Pages = Annotated[Web, Depends(web)]
CurrentSession = Annotated[Session, Depends(current_session)]
Csrf = Annotated[str, Form(alias="csrf_token")]


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def path_segment(value: object) -> str:
    """One URL path segment: everything but unreserved characters percent-encoded."""
    return quote(str(value), safe="")


def mfa_page(login_id: str, *rest: str) -> str:
    return "/".join(["/mfa", path_segment(login_id), *rest])


def refuse_forgery(pages: Web, request: Request, session: Session) -> HTMLResponse:
    return pages.render(
        request,
        "message.html",
        session,
        403,
        title="Page expired",
        text="This form was open too long or came from elsewhere. "
        "Go back, reload the page and try again.",
    )


@router.get("/", response_class=HTMLResponse)
async def sign_in_page(request: Request, pages: Pages, session: CurrentSession) -> Response:
    if session.user:
        return see_other("/signed-in")
    return pages.render(request, "signin.html", session)


@router.post("/signin", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    client_ip = request.client.host if request.client else "unknown"
    if not await pages.limiter.sign_in(email, client_ip):
        return pages.render(
            request,
            "signin.html",
            session,
            429,
            email=email,
            error="Too many sign-in attempts. Wait a few minutes and try again.",
        )
    user = await pages.directory.authenticate(email, password)
    if user is None:
        return pages.render(
            request,
            "signin.html",
            session,
            400,
            email=email,
            error="That e-mail and password do not match an account.",
        )
    session = await pages.renew_session(request, session)
    # Whoever may open the console passes their own authenticator, whatever the policy,
    # and types a code each time: a remembered browser does not open the console.
    admin_type = user.user_type in pages.admin_user_types
    login = await pages.logins.start(
        WEB_CLIENT,
        user.user,
        user.email,
        user.user_type,
        require_mfa=admin_type,
        device_token=None if admin_type else request.cookies.get(DEVICE_COOKIE),
    )
    session.pending = {"login_id": login.login_id, **vars(user)}
    await pages.logins.open_in_browser(login.login_id, session.id)
    return see_other(mfa_page(login.login_id))


@router.get("/mfa/{login_id}", response_class=HTMLResponse)
async def mfa_step(
    request: Request, login_id: str, pages: Pages, session: CurrentSession
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
    return await show_step(pages, request, session, login)


async def show_step(pages: Web, request: Request, session: Session, login: Login) -> Response:
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
    context: dict[str, Any] = {
        "login_id": login.login_id,
        "server_time": now.timestamp(),
        "locked_until": login.locked_until if status == "locked" else None,
        "account": login.email,
        "remember_days": policy.rules.remember_device_days,
    }
    if status == "enrollment_required" and login.enrollment:
        context["enrollment"] = enrollment_view(login, pages.box)
        return pages.render(request, "enroll.html", session, **context)
    return pages.render(request, "code.html", session, **context)


@router.post("/mfa/{login_id}/code")
async def submit_code(
    request: Request,
    login_id: str,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    code: Annotated[str, Form(max_length=32)] = "",
    remember: Annotated[bool, Form()] = False,
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    digits = "".join(code.split())
    if len(digits) != 6 or not (digits.isascii() and digits.isdigit()):
        session.flash = {"error": "Enter the 6 digits your authenticator app shows."}
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
            login_id, login.organization_id, typed, f"web:{session.id}", kind=kind
        )
    except (LoginNotFound, OpenElsewhere, LoginExpired, NotWaitingForCode):
        return see_other(mfa_page(login_id))  # the page says what happened
    except TooManyCodes:
        session.flash = {"error": "Too many codes for this sign-in. Start a new sign-in."}
        return see_other(mfa_page(login_id))
    except Refused as refused:
        session.flash = {"error": refused.message}
        return see_other(mfa_page(login_id))
    if result.outcome and result.outcome.accepted:
        response = await finish(pages, request, session, result.login)
        if remember and result.login.status == "authenticated":
            await remember_browser(pages, result.login, response)
        return response
    session.flash = code_error(result.outcome)
    return see_other(mfa_page(login_id))


async def remember_browser(pages: Web, login: Login, response: Response) -> None:
    """The user ticked "remember this browser": a device token in an HttpOnly cookie."""
    try:
        issued = await pages.self_service.remember_device(login.login_id, login.organization_id)
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
    pending = session.pending
    next_page = mfa_page(login.login_id, "done")
    if pending and pending["login_id"] == login.login_id:
        session = await pages.renew_session(request, session)
        session.user = DirectoryUser(
            pending["organization_id"], pending["user_id"], pending["email"], pending["user_type"]
        )
        session.mfa = bool(login.mfa_required)
        # New recovery codes need a code passed now, not a remembered browser.
        passed_code = login.passed_by in ("code", "recovery_code")
        session.mfa_login = login.login_id if passed_code else None
        next_page = "/signed-in"
    # Shown in this answer, once (a reload asks to send the form again, and that shows
    # the next page): codes never sit in a session document.
    if login.recovery_codes and (
        codes := await pages.self_service.take_recovery_codes(login.login_id)
    ):
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


@router.get("/signed-in", response_class=HTMLResponse)
async def signed_in(request: Request, pages: Pages, session: CurrentSession) -> Response:
    if session.user is None:
        return see_other("/")
    remembered = DEVICE_COOKIE in request.cookies
    return pages.render(
        request, "signed_in.html", session, user=session.user, remembered=remembered
    )


@router.post("/signout")
async def sign_out(request: Request, pages: Pages, session: CurrentSession, csrf: Csrf) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    await pages.sessions.delete(session)
    request.state.session = None
    request.state.clear_session = True
    return see_other("/")
