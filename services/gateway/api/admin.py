"""The admin API for the organization's users: coverage (paged, counted, CSV), and
ending a lock or the remembered devices of one user."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.gateway.api.routes import Admin, AdminCaller, UserInPath
from services.gateway.api.schemas import KEYED, AuthenticatorState, ResetDone, refusals
from services.gateway.domain.coverage import Enrollment, counts_by_type
from services.gateway.domain.snapshots import Source

CodeDigits = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{2})?$")]
router = APIRouter(prefix="/v1/admin", tags=["administration"], responses=refusals(*KEYED, 422))

Search = Annotated[
    str, Query(max_length=254, description="Part of a user id or e-mail address (any case)")
]


class UserCoverageState(BaseModel):
    user_id: str
    email: str
    user_type: str
    mfa_required: bool = Field(description="As the latest sign-in was decided")
    enrollment: Enrollment
    locked_until: datetime | None
    recovery_codes_left: int | None
    step_offset: int | None
    last_decided_at: datetime
    authenticators: str = Field(
        description="What the user signs in with: passkey, totp, both (space separated), or empty"
    )
    passkeys: int = Field(description="How many passkeys the user holds")
    source: Source | None = Field(
        default=None, description="enrolled (at a login) or imported; none: no authenticator"
    )


class CoveragePage(BaseModel):
    users: list[UserCoverageState]
    next_after: str | None = Field(description="Pass as ?after= for the next page; None: last")


class CoverageCounts(BaseModel):
    by_user_type: dict[str, dict[str, int]] = Field(
        description="Per type: users, required, not_enrolled, qr_offered, awaiting_first_use, "
        "enrolled, locked, "
        "totp_users, passkey_users (a user with both counts in both)"
    )


class Unlocked(BaseModel):
    user_id: str
    unlocked: bool = True


class DevicesRevoked(BaseModel):
    user_id: str
    revoked: int


@router.get("/users")
async def list_users(
    caller: AdminCaller,
    admin: Admin,
    q: Search = "",
    after: Annotated[str, Query(max_length=128)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CoveragePage:
    """The organization's users MFA has seen, by user id: whether MFA applies to them and
    how far they got (not_enrolled, qr_offered, awaiting_first_use, enrolled, locked), and
    where their authenticator came from (enrolled, imported)."""
    page = await admin.coverage_page(caller.organization_id, q, after, limit + 1)
    more = len(page) > limit
    users = [UserCoverageState.model_validate(vars(u)) for u in page[:limit]]
    return CoveragePage(users=users, next_after=users[-1].user_id if more else None)


@router.get("/users/summary")
async def count_users(caller: AdminCaller, admin: Admin, q: Search = "") -> CoverageCounts:
    users = [u async for u in admin.coverage(caller.organization_id, q)]
    return CoverageCounts(by_user_type=counts_by_type(users))


@router.get(
    "/users.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_users(caller: AdminCaller, admin: Admin, q: Search = "") -> StreamingResponse:
    """Every user of the list, as CSV (cells never start a formula)."""

    return StreamingResponse(
        admin.coverage_csv(caller.organization_id, q),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="mfa-users.csv"'},
    )


@router.post("/users/{user_id}/authenticator/reset", responses=refusals(504))
async def reset_authenticator(user: UserInPath, caller: AdminCaller, admin: Admin) -> ResetDone:
    await admin.reset_authenticator(user, caller.actor)
    return ResetDone(user_id=user.user_id)


@router.get("/users/{user_id}/authenticator")
async def get_authenticator(user: UserInPath, admin: Admin) -> AuthenticatorState:
    known = await admin.authenticator(user)
    devices = await admin.remembered_devices(user)
    if known is None:
        return AuthenticatorState(
            user_id=user.user_id,
            enrolled=False,
            confirmed=False,
            created_at=None,
            confirmed_at=None,
            locked_until=None,
            remembered_devices=devices,
        )
    return AuthenticatorState(
        user_id=user.user_id,
        enrolled=True,
        confirmed=known.confirmed_at is not None,
        created_at=known.created_at,
        confirmed_at=known.confirmed_at,
        locked_until=known.locked_until,
        recovery_codes_left=known.recovery_codes_left,
        step_offset=known.step_offset,
        remembered_devices=devices,
    )


class ResyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: tuple[CodeDigits, CodeDigits] = Field(
        description="Two consecutive codes the token shows now (press it twice)"
    )


class Resynced(BaseModel):
    user_id: str
    resynced: bool = True


@router.post("/users/{user_id}/authenticator/resync", responses=refusals(409, 504))
async def resync_token(
    user: UserInPath, body: ResyncRequest, caller: AdminCaller, admin: Admin
) -> Resynced:
    """An HOTP token pressed far ahead (past its look-ahead of 10): its counter moves to
    the second of two consecutive codes it shows now (409 no_match if they are not)."""
    await admin.resync_token(user, body.codes[0], body.codes[1], caller.actor)
    return Resynced(user_id=user.user_id)


@router.post("/users/{user_id}/authenticator/unlock", responses=refusals(504))
async def unlock(user: UserInPath, caller: AdminCaller, admin: Admin) -> Unlocked:
    """End the user's lock without a reset: their authenticator stays."""
    await admin.unlock(user, caller.actor)
    return Unlocked(user_id=user.user_id)


@router.delete("/users/{user_id}/devices")
async def revoke_devices(user: UserInPath, caller: AdminCaller, admin: Admin) -> DevicesRevoked:
    """Forget every remembered device of the user: their next login asks for a code."""
    return DevicesRevoked(
        user_id=user.user_id, revoked=await admin.revoke_devices(user, caller.actor)
    )
