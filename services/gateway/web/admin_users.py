"""Console pages for the organization's users: coverage (list, counts, CSV), and one
user's lock, remembered devices and passkeys."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from services.gateway.domain.coverage import counts_by_type
from services.gateway.use_cases.errors import NotAppliedInTime, PasskeyNotFound, Refused
from services.gateway.web.admin import acted_on, actor, guard, user_page
from services.gateway.web.pages import Csrf, CurrentSession, Pages

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50

Search = Annotated[str, Query(max_length=254)]


@router.get("/admin/coverage", response_class=HTMLResponse)
async def coverage(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    q: Search = "",
    after: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    if refused := await guard(pages, request, session):
        return refused
    organization = pages.console_organization(session)
    page = await pages.admin.coverage_page(organization, q, after, PAGE_SIZE + 1)
    everyone = [u async for u in pages.admin.coverage(organization, q)]
    more = len(page) > PAGE_SIZE
    return pages.render(
        request,
        "admin_coverage.html",
        session,
        q=q,
        users=page[:PAGE_SIZE],
        counts=counts_by_type(everyone),
        next_url=f"/admin/coverage?{urlencode({'q': q, 'after': page[PAGE_SIZE - 1].user_id})}"
        if more
        else None,
        csv_url=f"/admin/coverage.csv?{urlencode({'q': q})}",
    )


@router.get("/admin/coverage.csv")
async def coverage_csv(
    request: Request, pages: Pages, session: CurrentSession, q: Search = ""
) -> Response:
    if refused := await guard(pages, request, session):
        return refused
    return StreamingResponse(
        pages.admin.coverage_csv(pages.console_organization(session), q),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="mfa-users.csv"'},
    )


@router.post("/admin/users/{user_id}/unlock")
async def unlock(
    request: Request, user_id: str, pages: Pages, session: CurrentSession, csrf: Csrf
) -> Response:
    if isinstance(user := await acted_on(pages, request, session, csrf, user_id), Response):
        return user
    try:
        await pages.admin.unlock(user, actor(session))
        session.flash = {"notice": f"{user.user_id} is unlocked and may try codes again."}
    except NotAppliedInTime:
        session.flash = {"error": "The unlock is recorded but verification has not confirmed it."}
    return user_page(user)


@router.post("/admin/users/{user_id}/devices/forget")
async def forget_devices(
    request: Request, user_id: str, pages: Pages, session: CurrentSession, csrf: Csrf
) -> Response:
    if isinstance(user := await acted_on(pages, request, session, csrf, user_id), Response):
        return user
    revoked = await pages.admin.revoke_devices(user, actor(session))
    session.flash = {"notice": f"{revoked} remembered devices of {user.user_id} forgotten."}
    return user_page(user)


@router.post("/admin/users/{user_id}/passkeys/remove")
async def remove_passkey(
    request: Request,
    user_id: str,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    passkey_id: Annotated[str, Form(max_length=1400)] = "",
) -> Response:
    if isinstance(user := await acted_on(pages, request, session, csrf, user_id), Response):
        return user
    try:
        await pages.admin.remove_passkey(user, passkey_id, actor(session))
        session.flash = {"notice": f"The passkey no longer signs {user.user_id} in."}
    except Refused as refused:
        session.flash = {"error": refused.message}
    except PasskeyNotFound:
        session.flash = {"error": "That passkey is already gone."}
    except NotAppliedInTime:
        session.flash = {"error": "The removal is recorded but not yet confirmed everywhere."}
    return user_page(user)
