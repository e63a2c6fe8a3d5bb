"""Hosted pages: what every page shares (the Web state, the session, redirects), the
demo sign-in, signed-in and sign-out. The MFA step itself: mfa_step.py.

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

from services.gateway.stores.api_keys import ApiKeys
from services.gateway.stores.audit import AuditLog
from services.gateway.stores.rate_limits import Throttle, TryLater, address_bucket
from services.gateway.use_cases.administration import AdminFlow
from services.gateway.use_cases.imports import ImportFlow
from services.gateway.use_cases.login import (
    LoginFlow,
)
from services.gateway.use_cases.passkeys import PasskeyService
from services.gateway.use_cases.self_service import SelfService
from services.gateway.web.directory import UserDirectory
from services.gateway.web.sessions import COOKIE, Session, SessionStore
from shared.clock import Clock
from shared.crypto import SecretBox

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
    passkeys: PasskeyService
    imports: ImportFlow
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
                "now": self.clock.now(),
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
Csrf = Annotated[str, Form(alias="csrf_token")]  # missing: form_errors says "page expired"


def client_address(request: Request) -> str:
    """The client's address for rate limits: the peer's, or the one a trusted proxy
    forwarded (MFA_TRUSTED_PROXIES; uvicorn rewrites the peer from X-Forwarded-For),
    one spelling per client (``address_bucket``)."""
    return address_bucket(request.client.host if request.client else "")


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def path_segment(value: object) -> str:
    """One URL path segment: everything but unreserved characters percent-encoded."""
    return quote(str(value), safe="")


def mfa_page(login_id: str, *rest: str) -> str:
    return "/".join(["/mfa", path_segment(login_id), *rest])


def too_many_tries(
    pages: Web, request: Request, session: Session, form: str, later: TryLater, **context: Any
) -> HTMLResponse:
    """The form again (429), saying when it may be tried again (issue 23)."""
    page = pages.render(request, form, session, 429, try_again_at=later.at, **context)
    seconds = max(1, int((later.at - pages.clock.now()).total_seconds()))
    page.headers["Retry-After"] = str(seconds)
    return page


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
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    if problems := sign_in_problems(email, password):
        # An incomplete form is the form again, each message beside its field (issue 23).
        return pages.render(
            request, "signin.html", session, 422, email=email[:254], problems=problems
        )
    client_ip = client_address(request)
    taken = await pages.limiter.sign_in(email, client_ip)
    if isinstance(taken, TryLater):
        return too_many_tries(pages, request, session, "signin.html", taken, email=email)
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
    await pages.limiter.succeeded(taken)  # only failures stay counted
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


def sign_in_problems(email: str, password: str) -> dict[str, str]:
    """What is missing or malformed in the sign-in form, by field."""
    problems: dict[str, str] = {}
    if not email.strip():
        problems["email"] = "Enter your e-mail address."
    elif len(email) > MAX_EMAIL or "@" not in email:
        problems["email"] = "Enter an e-mail address like name@example.com."
    if not password:
        problems["password"] = "Enter your password."  # noqa: S105 - a message, not a secret
    elif len(password) > MAX_PASSWORD:
        problems["password"] = f"A password has at most {MAX_PASSWORD} characters."
    return problems


MAX_EMAIL, MAX_PASSWORD = 254, 1024


@router.get("/signed-in", response_class=HTMLResponse)
async def signed_in(request: Request, pages: Pages, session: CurrentSession) -> Response:
    if session.user is None:
        return see_other("/")
    remembered = DEVICE_COOKIE in request.cookies
    user = session.user.user
    return pages.render(
        request,
        "signed_in.html",
        session,
        user=session.user,
        remembered=remembered,
        passkeys=await pages.admin.passkeys(user),
        passkeys_on=await pages.passkeys.offered(user.organization_id),
    )


@router.post("/signout")
async def sign_out(request: Request, pages: Pages, session: CurrentSession, csrf: Csrf) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    await pages.sessions.delete(session)
    request.state.session = None
    request.state.clear_session = True
    return see_other("/")
