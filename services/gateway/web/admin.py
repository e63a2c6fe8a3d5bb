"""The admin console: policy editor, user look-up, authenticator reset, recent events."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from services.gateway.stores.api_keys import split_key
from services.gateway.stores.rate_limits import TryLater
from services.gateway.use_cases.errors import NotAppliedInTime, PolicyConflict, Refused
from services.gateway.web.pages import (
    Csrf,
    CurrentSession,
    Pages,
    Web,
    client_address,
    refuse_forgery,
    see_other,
    too_many_tries,
)
from services.gateway.web.policy_form import PasskeyForm, passkey_form
from services.gateway.web.sessions import Session
from shared.events import MAX_REMEMBER_DEVICE_DAYS, PolicyRules
from shared.identity import InvalidId, UserRef, canonical_user_id
from shared.messaging import describe_validation_error

router = APIRouter(include_in_schema=False)
RULES = tuple(PolicyRules.model_fields)  # what a saved policy is made of


def presented_key_id(api_key: str) -> str:
    """The id of an issued key; for anything else, a digest that names it, never the key."""
    parts = split_key(api_key.strip())
    return parts[0] if parts else hashlib.sha256(api_key.encode()).hexdigest()[:16]


def actor(session: Session) -> str:
    if session.admin:
        return session.admin
    return f"user:{session.user.email}" if session.user else "unknown"


async def guard(
    pages: Web,
    request: Request,
    session: Session,
    csrf: str | None = None,
) -> Response | None:
    """None when the caller may act; otherwise the page to show instead."""
    if not await pages.still_admin(session):
        return see_other("/admin/signin")
    if csrf is not None and not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    return None


@router.get("/admin", response_class=HTMLResponse)
async def console(request: Request, pages: Pages, session: CurrentSession) -> Response:
    if refused := await guard(pages, request, session):
        return refused
    return await render_console(request, pages, session)


async def render_console(
    request: Request, pages: Web, session: Session, status: int = 200, error: str | None = None
) -> Response:
    organization = pages.console_organization(session)
    policy = (await pages.admin.policy(organization)).fields()
    # Every type a setting names is shown, so that saving the form keeps it.
    named = {*policy["user_types"], *policy["require_passkey_user_types"]}
    types = set(await pages.directory.user_types(organization)) | named
    if error:
        session.flash = {"error": error}
    return pages.render(
        request,
        "admin.html",
        session,
        status,
        policy=policy,
        known_types=sorted(types),
        events=await pages.audit.latest(organization),
    )


@router.post("/admin/policy")
async def save_policy(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    version: Annotated[int, Form(ge=0)],
    passkeys: Annotated[PasskeyForm, Depends(passkey_form)],
    user_types: Annotated[list[str], Form()] = [],  # noqa: B006
    other_type: Annotated[str, Form(max_length=64)] = "",
    all_users: Annotated[bool, Form()] = False,
    remember_device_days: Annotated[int, Form(ge=0, le=MAX_REMEMBER_DEVICE_DAYS)] = 0,
) -> Response:
    """The whole form, over the version it showed: a change made meanwhile is a 409. The
    listed users (edited one by one below the form) are kept as they are."""
    if refused := await guard(pages, request, session, csrf):
        return refused
    current = await pages.admin.policy(pages.console_organization(session))
    types = [t for t in [*user_types, other_type] if t.strip()]
    fields = {
        **current.rules.model_dump(),
        "all_users": all_users,
        "user_types": types,
        "remember_device_days": remember_device_days,
        **passkeys.fields(current.rules.relying_party),
    }
    try:
        return await save(pages, session, fields, version)
    except PolicyConflict as conflict:
        message = f"Not saved: someone changed the policy meanwhile. {conflict.message}"
        return await render_console(request, pages, session, 409, message + " Review and save.")


@router.post("/admin/policy/users")
async def change_listed_users(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    user: Annotated[str, Form(min_length=1, max_length=128)],
    action: Annotated[str, Form(pattern="^(add|remove)$")],
) -> Response:
    """A delta: applied over whatever version is current, again if another change lands."""
    if refused := await guard(pages, request, session, csrf):
        return refused
    organization = pages.console_organization(session)
    for _ in range(3):
        current = (await pages.admin.policy(organization)).fields()
        users = set(current["users"])
        if action == "add":
            users.add(user.strip())
        else:
            users.discard(user)
        try:
            return await save(pages, session, {**current, "users": users}, current["version"])
        except PolicyConflict:
            continue
    return await render_console(
        request, pages, session, 409, "The policy kept changing while this was saved. Try again."
    )


async def save(pages: Web, session: Session, fields: dict[str, Any], expected: int) -> Response:
    """Save the policy over version ``expected`` and say how it went on the console;
    PolicyConflict when it is no longer that version."""
    try:
        rules = PolicyRules.model_validate({k: fields[k] for k in RULES if k in fields})
    except ValidationError as exc:
        session.flash = {"error": f"Not saved: {describe_validation_error(exc)}"}
        return see_other("/admin")
    organization = pages.console_organization(session)
    try:
        saved = await pages.admin.replace_policy(organization, rules, actor(session), expected)
    except Refused as refused:
        session.flash = {"error": f"Not saved: {refused.message}"}
        return see_other("/admin")
    except NotAppliedInTime:
        session.flash = {
            "error": "The policy service did not confirm in time; the change "
            "will apply when it recovers."
        }
        return see_other("/admin")
    session.flash = {
        "notice": f"Policy saved (version {saved.version}). "
        "It applies to every sign-in from now on."
    }
    return see_other("/admin")


@router.get("/admin/users", response_class=HTMLResponse)
async def look_up(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    q: Annotated[str, Query(min_length=1, max_length=254)],
) -> Response:
    if refused := await guard(pages, request, session):
        return refused
    organization = pages.console_organization(session)
    person = await pages.directory.find(organization, q)
    try:
        user = person.user if person else UserRef(organization, canonical_user_id(q))
    except InvalidId as exc:
        session.flash = {"error": f"No such user: {exc}."}
        return see_other("/admin")
    authenticator = await pages.admin.authenticator(user)
    return pages.render(
        request,
        "admin_user.html",
        session,
        query=q,
        person=person,
        user_id=user.user_id,
        authenticator=authenticator,
        devices=await pages.admin.remembered_devices(user),
        locked=bool(authenticator and authenticator.locked(pages.clock.now())),
    )


async def acted_on(
    pages: Web, request: Request, session: Session, csrf: str, user_id: str
) -> UserRef | Response:
    """The console organization's user a form acts on; or, when the caller may not act
    or the id is not a user id, the page to show instead."""
    if refused := await guard(pages, request, session, csrf):
        return refused
    try:
        return UserRef(pages.console_organization(session), canonical_user_id(user_id))
    except InvalidId as exc:
        session.flash = {"error": f"No such user: {exc}."}
        return see_other("/admin")


def user_page(user: UserRef) -> Response:
    """Back to the user's look-up, where the flash message says what was done."""
    return see_other(f"/admin/users?{urlencode({'q': user.user_id})}")


@router.post("/admin/users/{user_id}/reset", response_class=HTMLResponse)
async def confirm_reset(
    request: Request, user_id: str, pages: Pages, session: CurrentSession, csrf: Csrf
) -> Response:
    if isinstance(user := await acted_on(pages, request, session, csrf, user_id), Response):
        return user
    person = await pages.directory.find(user.organization_id, user.user_id)
    return pages.render(
        request,
        "admin_reset.html",
        session,
        user_id=user.user_id,
        email=person.email if person else None,
    )


@router.post("/admin/users/{user_id}/reset/confirm")
async def reset(
    request: Request, user_id: str, pages: Pages, session: CurrentSession, csrf: Csrf
) -> Response:
    if isinstance(user := await acted_on(pages, request, session, csrf, user_id), Response):
        return user
    try:
        await pages.admin.reset_authenticator(user, actor(session))
        session.flash = {
            "notice": f"Authenticator reset for {user.user_id}. They will scan a new "
            "QR code at their next sign-in."
        }
    except NotAppliedInTime as exc:
        session.flash = {
            "error": "The reset is recorded but not yet confirmed by "
            f"{', '.join(sorted(exc.waiting_for))}."
        }
    return user_page(user)


@router.get("/admin/signin", response_class=HTMLResponse)
async def key_sign_in_page(request: Request, pages: Pages, session: CurrentSession) -> Response:
    return pages.render(request, "admin_signin.html", session)


@router.post("/admin/signin", response_class=HTMLResponse)
async def key_sign_in(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    api_key: Annotated[str, Form()] = "",  # a wrong one, whatever its length, is said beside it
) -> Response:
    if not session.csrf_ok(csrf):
        return refuse_forgery(pages, request, session)
    if not api_key.strip():  # nothing to try: the form again, nothing counted
        error = "Paste an admin API key."
        return pages.render(request, "admin_signin.html", session, 422, error=error)
    client_ip = client_address(request)
    key_id = presented_key_id(api_key)
    taken = await pages.limiter.key_sign_in(key_id, client_ip)
    if isinstance(taken, TryLater):
        return too_many_tries(pages, request, session, "admin_signin.html", taken)
    caller = await pages.keys.identify(api_key)
    if caller is None or caller.role != "admin":
        return pages.render(
            request, "admin_signin.html", session, 401, error="That is not an admin API key."
        )
    await pages.limiter.succeeded(taken)  # only failures stay counted
    session = await pages.renew_session(request, session)
    session.admin, session.organization_id = caller.actor, caller.organization_id
    return see_other("/admin")
