"""The admin API for the organization's policy: read it (with its version as ETag),
replace it (If-Match: only over the version the editor saw), and its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi.exceptions import RequestValidationError

from services.gateway.api.edge import POLICY_BODY_LIMIT
from services.gateway.api.routes import Admin, AdminCaller
from services.gateway.api.schemas import (
    KEYED,
    PolicyRequest,
    PolicyState,
    PolicyVersion,
    refusals,
)

router = APIRouter(prefix="/v1/admin", tags=["administration"], responses=refusals(*KEYED, 422))


def _version_tag(version: int) -> str:
    return f'"{version}"'


def _expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header names: '"3"' (or W/"3", or 3); '*' or none: any."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isascii() or not tag.isdigit():
        error = {"loc": ("header", "if-match"), "msg": 'a version such as "3"', "type": "value"}
        raise RequestValidationError([error])
    return int(tag)


@router.get("/policy")
async def get_policy(caller: AdminCaller, admin: Admin, response: Response) -> PolicyState:
    """The policy; its ETag is the version, to send back as If-Match with a change."""
    policy = PolicyState.model_validate((await admin.policy(caller.organization_id)).fields())
    response.headers["ETag"] = _version_tag(policy.version)
    return policy


@router.put(
    "/policy",
    max_body_size=POLICY_BODY_LIMIT,
    responses=refusals(409, 413, 504),
)
async def put_policy(
    body: PolicyRequest,
    caller: AdminCaller,
    admin: Admin,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=64)] = None,
) -> PolicyState:
    """Replace the policy; with If-Match, only if it is still that version (else 409)."""
    expected = _expected_version(if_match)
    saved = await admin.replace_policy(caller.organization_id, body, caller.actor, expected)
    policy = PolicyState.model_validate(saved.fields())
    response.headers["ETag"] = _version_tag(policy.version)
    return policy


@router.get("/policy/versions")
async def get_policy_versions(caller: AdminCaller, admin: Admin) -> list[PolicyVersion]:
    """The organization's policy versions, latest first (the last 50)."""
    versions = await admin.policy_versions(caller.organization_id)
    return [
        PolicyVersion.model_validate({**v.fields(), "requested_by": v.requested_by})
        for v in versions
    ]
