"""The admin API for imports (issue 21): a file of existing authenticators, a dry run
by default, applied only as its dry run showed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from services.gateway.api.routes import AdminCaller
from services.gateway.api.schemas import KEYED, refusals
from services.gateway.domain.import_formats import Secrets, mapping_pairs
from services.gateway.domain.imports import MAX_UPLOAD_BYTES, MalformedFile
from services.gateway.state import gateway_state
from services.gateway.use_cases.errors import Refused
from services.gateway.use_cases.imports import Format, ImportFlow, ImportOptions, PlanChanged

router = APIRouter(prefix="/v1/admin", tags=["administration"])


async def _imports(request: Request) -> ImportFlow:
    return gateway_state(request).imports


class ImportedRow(BaseModel):
    row: int = Field(description="Where in the file: its line (or entry, for migrations)")
    user_id: str = Field(
        description="The user, or the file's name for them; a name that could be a secret "
        "(not a user id, or a long hex or base32 string) is shown by its start only"
    )
    outcome: str = Field(
        description="import, replace, unchanged (imported before), has_authenticator, "
        "bad_secret, unsupported, unknown_user, duplicate_user, duplicate_secret"
    )
    detail: str


class ImportReportBody(BaseModel):
    plan: str = Field(description="Send it back with apply=true: applied only if unchanged")
    applied: bool
    counts: dict[str, int] = Field(description="Rows by outcome")
    rows: list[ImportedRow]


@router.post(
    "/imports",
    max_body_size=MAX_UPLOAD_BYTES,
    responses=refusals(*KEYED, 409, 413, 422, 504),
)
async def import_authenticators(
    caller: AdminCaller,
    imports: Annotated[ImportFlow, Depends(_imports)],
    file: Annotated[UploadFile, File(description="The file to import (at most 1 MiB)")],
    format: Annotated[Format, Form()] = "otpauth_csv",
    mapping: Annotated[
        UploadFile | None,
        File(description="CSV name,user_id: the file's account names (or serials) to users"),
    ] = None,
    key: Annotated[
        str | None, Form(max_length=128, description="PSKC: the pre-shared key, in hex")
    ] = None,
    password: Annotated[
        str | None, Form(max_length=256, description="PSKC: the PBKDF2 password")
    ] = None,
    apply: Annotated[bool, Query(description="false (the default): a dry run")] = False,
    plan: Annotated[str | None, Query(max_length=64, description="The dry run's plan")] = None,
    on_existing: Annotated[Literal["skip", "replace"], Query()] = "skip",
    allow_short_secrets: Annotated[bool, Query(description="Import under 128 bits")] = False,
    confirm: Annotated[
        Literal["now", "first_use"],
        Query(
            description="now: each is confirmed as it is imported; first_use: the user's first "
            "accepted code confirms it and brings their recovery codes"
        ),
    ] = "now",
) -> ImportReportBody:
    """Bring users' existing apps or tokens across: each row's outcome, and, with
    apply=true and the dry run's plan, the rows imported. Formats: otpauth_csv
    (user_id,email,otpauth_uri), google_migration (otpauth-migration:// lines),
    oath_csv (serial,hex seed,type,digits,step or counter[,user]) and pskc (RFC 6030,
    plain or encrypted: give key or password, used and kept nowhere). An imported
    authenticator's next login asks for its code, with no QR; it is confirmed as imported,
    or by that first code (confirm=first_use)."""
    options = ImportOptions(
        format, apply, plan, on_existing, allow_short_secrets, await _mapping(mapping), confirm
    )
    try:
        secrets = Secrets(bytes.fromhex(key) if key else None, password)
    except ValueError:
        raise _invalid("key", "the key is not hex") from None
    try:
        report = await imports.run(
            caller.organization_id, await file.read(), options, caller.actor, secrets
        )
    except MalformedFile as malformed:
        raise _invalid("file", str(malformed)) from None
    except PlanChanged as changed:
        raise Refused(
            "plan_changed",
            "The file or the users changed since the dry run: nothing was imported. Review "
            f"the dry run again (its plan is now {changed.plan}).",
        ) from None
    return ImportReportBody(
        plan=report.plan,
        applied=report.applied,
        counts=report.counts,
        rows=[
            ImportedRow(row=p.row, user_id=p.shown_user, outcome=p.outcome, detail=p.detail)
            for p in report.rows
        ],
    )


async def _mapping(upload: UploadFile | None) -> dict[str, str]:
    if upload is None:
        return {}
    try:
        return mapping_pairs(await upload.read())
    except MalformedFile as malformed:
        raise _invalid("mapping", str(malformed)) from None


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])
