"""Passkeys beyond the sign-in: a signed-in user's list, one more added, one removed
(for the login whose code or passkey the same key just passed), and the admin's list
and removal of a user's passkeys."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import BaseModel, Field

from services.gateway.api.routes import (
    CODE_RESPONSES,
    Admin,
    AdminCaller,
    ClientCaller,
    CodeRefusal,
    Present,
    UserInPath,
    refusal,
)
from services.gateway.api.schemas import KEYED, PasskeyCeremony, PasskeyRequest, refusals
from services.gateway.domain.snapshots import PasskeyRecord
from services.gateway.presentation.passkeys import compact
from services.gateway.state import gateway_state
from services.gateway.use_cases.passkeys import PasskeyService

router = APIRouter()

PasskeyIdInPath = Annotated[
    str, Path(min_length=1, max_length=1400, pattern=r"^[A-Za-z0-9_-]+$", description="base64url")
]


async def _passkeys(request: Request) -> PasskeyService:
    return gateway_state(request).passkeys


Passkeys = Annotated[PasskeyService, Depends(_passkeys)]


class PasskeyState(BaseModel):
    passkey_id: str = Field(description="The credential id, base64url")
    name: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="The last sign-in it passed")


class PasskeyList(BaseModel):
    passkeys: list[PasskeyState] = Field(description="Oldest first; at most 10")


def listed(records: tuple[PasskeyRecord, ...]) -> PasskeyList:
    return PasskeyList(
        passkeys=[
            PasskeyState(
                passkey_id=p.passkey_id,
                name=p.name,
                created_at=p.created_at,
                last_used_at=p.last_used_at,
            )
            for p in records
        ]
    )


@router.get(
    "/v1/logins/{login_id}/passkeys",
    tags=["self-service"],
    responses=refusals(*KEYED, 404, 409, 422),
)
async def list_own_passkeys(login_id: str, caller: ClientCaller, own: Passkeys) -> PasskeyList:
    """The user's passkeys, for the key whose code or passkey just passed this login."""
    return listed(await own.passkeys(login_id, caller.organization_id, caller.key_id))


@router.post(
    "/v1/logins/{login_id}/passkeys/registration",
    tags=["self-service"],
    responses=refusals(*KEYED, 404, 409, 422, 504),
)
async def begin_passkey_registration(
    login_id: str, caller: ClientCaller, own: Passkeys
) -> PasskeyCeremony:
    """Options to register one more passkey (at most 10), for the key whose code or
    passkey just passed this login: pass them to navigator.credentials.create(), then
    send its answer to POST .../passkeys."""
    options = await own.begin(login_id, caller.organization_id, caller.key_id)
    return PasskeyCeremony(ceremony="registration", options=json.loads(options))


@router.post(
    "/v1/logins/{login_id}/passkeys",
    status_code=status.HTTP_201_CREATED,
    tags=["self-service"],
    responses=CODE_RESPONSES,
)
async def add_passkey(
    login_id: str, body: PasskeyRequest, caller: ClientCaller, own: Passkeys, present: Present
) -> PasskeyList:
    """The browser's answer to the registration options: the passkey is added (the
    user is told by a passkey_registered notice), and the user's passkeys listed."""
    result = await own.add(
        login_id, caller.organization_id, caller.key_id, compact(body.credential)
    )
    if result.outcome is None or not result.outcome.accepted:
        raise CodeRefusal(*refusal(result, present, "passkey"))
    return listed(await own.passkeys(login_id, caller.organization_id, caller.key_id))


@router.delete(
    "/v1/logins/{login_id}/passkeys/{passkey_id}",
    tags=["self-service"],
    responses=refusals(*KEYED, 404, 409, 422, 504),
)
async def remove_own_passkey(
    login_id: str, passkey_id: PasskeyIdInPath, caller: ClientCaller, own: Passkeys
) -> PasskeyList:
    """Remove one of the user's passkeys, never their last authenticator."""
    return listed(await own.remove(login_id, caller.organization_id, caller.key_id, passkey_id))


@router.get(
    "/v1/admin/users/{user_id}/passkeys",
    tags=["administration"],
    responses=refusals(*KEYED, 422),
)
async def list_user_passkeys(user: UserInPath, admin: Admin) -> PasskeyList:
    return listed(await admin.passkeys(user))


@router.delete(
    "/v1/admin/users/{user_id}/passkeys/{passkey_id}",
    tags=["administration"],
    responses=refusals(*KEYED, 404, 409, 422, 504),
)
async def remove_user_passkey(
    user: UserInPath, passkey_id: PasskeyIdInPath, caller: AdminCaller, admin: Admin
) -> PasskeyList:
    """Remove one passkey of the user (a lost phone), never their last authenticator:
    a reset removes everything, and registration starts over."""
    await admin.remove_passkey(user, passkey_id, caller.actor)
    return listed(await admin.passkeys(user))
