"""The admin API for imports (issue 21): a file of existing authenticators, a dry run
by default, applied only as its dry run showed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from services.gateway.api.edge import POLICY_BODY_LIMIT
from services.gateway.api.routes import AdminCaller
from services.gateway.api.schemas import KEYED, refusals
from services.gateway.domain.imports import MalformedFile
from services.gateway.state import gateway_state
from services.gateway.use_cases.errors import Refused
from services.gateway.use_cases.imports import ImportFlow, ImportOptions, PlanChanged

router = APIRouter(prefix="/v1/admin", tags=["administration"])

CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file, as text: otpauth_csv is user_id,email,otpauth_uri lines",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


async def _imports(request: Request) -> ImportFlow:
    return gateway_state(request).imports


class ImportedRow(BaseModel):
    row: int = Field(description="The file's line (1: the first)")
    user_id: str
    outcome: str = Field(
        description="import, replace, unchanged (imported before), has_authenticator, "
        "bad_secret, unsupported, unknown_user, duplicate_user"
    )
    detail: str


class ImportReportBody(BaseModel):
    plan: str = Field(description="Send it back with apply=true: applied only if unchanged")
    applied: bool
    counts: dict[str, int] = Field(description="Rows by outcome")
    rows: list[ImportedRow]


@router.post(
    "/imports",
    max_body_size=POLICY_BODY_LIMIT,
    openapi_extra=CSV_BODY,
    responses=refusals(*KEYED, 409, 413, 422, 504),
)
async def import_authenticators(
    request: Request,
    caller: AdminCaller,
    imports: Annotated[ImportFlow, Depends(_imports)],
    format: Annotated[Literal["otpauth_csv"], Query()] = "otpauth_csv",
    apply: Annotated[bool, Query(description="false (the default): a dry run")] = False,
    plan: Annotated[str | None, Query(max_length=64, description="The dry run's plan")] = None,
    on_existing: Annotated[Literal["skip", "replace"], Query()] = "skip",
    allow_short_secrets: Annotated[bool, Query(description="Import under 128 bits")] = False,
) -> ImportReportBody:
    """Bring users' existing apps or tokens across: each row's outcome, and, with
    apply=true and the dry run's plan, the rows imported. An imported authenticator is
    confirmed: the user's next login asks for the code, with no QR."""
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid("the file is not UTF-8 text") from None
    options = ImportOptions(format, apply, plan, on_existing, allow_short_secrets)
    try:
        report = await imports.run(caller.organization_id, text, options, caller.actor)
    except MalformedFile as malformed:
        raise _invalid(str(malformed)) from None
    except PlanChanged as changed:
        raise Refused(
            "plan_changed",
            f"The file or the users changed since the dry run: nothing was imported. "
            f"Review the dry run again (its plan is now {changed.plan}).",
        ) from None
    return ImportReportBody(
        plan=report.plan,
        applied=report.applied,
        counts=report.counts,
        rows=[
            ImportedRow(row=p.row, user_id=p.user_id, outcome=p.outcome, detail=p.detail)
            for p in report.rows
        ],
    )


def _invalid(message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": message, "type": "value_error"}])
