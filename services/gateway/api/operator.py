"""The platform operator's API: organizations, and their keys (shown once, revocable).

Every route needs an operator key (MFA_OPERATOR_API_KEYS). The same calls from a
shell: ``python -m services.gateway.cli.operator``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from services.gateway.api.auth import require
from services.gateway.api.schemas import KEYED, refusals
from services.gateway.state import gateway_state
from services.gateway.stores.api_keys import ApiKey, Caller, KeyStore, OrganizationRole
from services.gateway.stores.organizations import (
    DEFAULT_ISSUER,
    Organization,
    OrganizationExists,
    Organizations,
)
from shared.clock import Clock
from shared.events import Issuer
from shared.identity import ORGANIZATION_ID_PATTERN, OrganizationId

KeyRole = TypeAliasType("KeyRole", OrganizationRole)  # a named schema in the document
router = APIRouter(prefix="/v1/operator", tags=["operator"], responses=refusals(*KEYED, 422))

OperatorCaller = Annotated[Caller, Depends(require("operator"))]
OrganizationInPath = Annotated[str, Path(pattern=ORGANIZATION_ID_PATTERN)]


class OrganizationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: OrganizationId = Field(description="A slug: a-z, 0-9 and -, 1-64 long")
    name: str = Field(min_length=1, max_length=128)
    issuer: Issuer = Field(
        default=DEFAULT_ISSUER, description="What authenticator apps show above the account"
    )


class OrganizationState(BaseModel):
    organization_id: str
    name: str
    issuer: str
    created_at: datetime


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: KeyRole
    name: str = Field(min_length=1, max_length=128, description="What the key is for")


class KeyState(BaseModel):
    key_id: str
    role: KeyRole
    name: str
    created_at: AwareDatetime
    last_used_at: AwareDatetime | None = Field(description="Recorded to the minute")
    revoked_at: AwareDatetime | None


class IssuedKeyState(KeyState):
    key: str = Field(description="The key itself: shown this once, stored nowhere")


class KeyRevoked(BaseModel):
    key_id: str
    revoked: Literal[True] = True


async def _organizations(request: Request) -> Organizations:
    return gateway_state(request).organizations


async def _keys(request: Request) -> KeyStore:
    return gateway_state(request).keys


async def _clock(request: Request) -> Clock:
    return gateway_state(request).clock


Registry = Annotated[Organizations, Depends(_organizations)]
Keys = Annotated[KeyStore, Depends(_keys)]
Now = Annotated[Clock, Depends(_clock)]


def _state(organization: Organization) -> OrganizationState:
    return OrganizationState(**vars(organization))


def _key_state(key: ApiKey) -> KeyState:
    fields = ("key_id", "role", "name", "created_at", "last_used_at", "revoked_at")
    return KeyState(**{f: getattr(key, f) for f in fields})


async def _existing(registry: Organizations, organization_id: str) -> Organization:
    organization = await registry.get(organization_id)
    if organization is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such organization")
    return organization


@router.post("/organizations", status_code=status.HTTP_201_CREATED, responses=refusals(409, 413))
async def create_organization(
    body: OrganizationRequest, _: OperatorCaller, registry: Registry, clock: Now
) -> OrganizationState:
    try:
        created = await registry.create(body.organization_id, body.name, body.issuer, clock.now())
    except OrganizationExists:
        raise HTTPException(status.HTTP_409_CONFLICT, "that organization exists") from None
    return _state(created)


@router.get("/organizations")
async def list_organizations(_: OperatorCaller, registry: Registry) -> list[OrganizationState]:
    return [_state(o) for o in await registry.all()]


@router.post(
    "/organizations/{organization_id}/keys",
    status_code=status.HTTP_201_CREATED,
    responses=refusals(404, 413),
)
async def issue_key(
    organization_id: OrganizationInPath,
    body: KeyRequest,
    _: OperatorCaller,
    registry: Registry,
    keys: Keys,
    clock: Now,
) -> IssuedKeyState:
    await _existing(registry, organization_id)
    issued = await keys.issue(organization_id, body.role, body.name, clock.now())
    return IssuedKeyState(**_key_state(issued.record).model_dump(), key=issued.key)


@router.get("/organizations/{organization_id}/keys", responses=refusals(404))
async def list_keys(
    organization_id: OrganizationInPath, _: OperatorCaller, registry: Registry, keys: Keys
) -> list[KeyState]:
    await _existing(registry, organization_id)
    return [_key_state(k) for k in await keys.of(organization_id)]


@router.delete("/organizations/{organization_id}/keys/{key_id}", responses=refusals(404))
async def revoke_key(
    organization_id: OrganizationInPath,
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
    _: OperatorCaller,
    keys: Keys,
    clock: Now,
) -> KeyRevoked:
    if not await keys.revoke(organization_id, key_id, clock.now()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such live key in that organization")
    return KeyRevoked(key_id=key_id)
