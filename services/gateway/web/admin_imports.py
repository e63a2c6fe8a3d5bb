"""The console's "Import authenticators" page (issue 21): upload a file, read every
row's outcome in a dry run, then apply exactly that plan.

The file is never kept: applying asks for it again (with its key or password), and
the flow refuses it if anything changed since the dry run, as the admin API does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from services.gateway.domain.import_formats import Secrets, mapping_pairs
from services.gateway.domain.imports import IMPORTED, MAX_UPLOAD_BYTES, MalformedFile
from services.gateway.use_cases.errors import NotAppliedInTime
from services.gateway.use_cases.imports import Format, ImportOptions, ImportReport, PlanChanged
from services.gateway.web.admin import actor, guard
from services.gateway.web.pages import Csrf, CurrentSession, Pages, Web
from services.gateway.web.sessions import Session

router = APIRouter(include_in_schema=False)
FORMATS: dict[str, str] = {
    "otpauth_csv": "CSV: user_id, email, otpauth:// URI",
    "google_migration": "Google Authenticator export (otpauth-migration:// lines)",
    "oath_csv": "OATH CSV (privacyIDEA): serial, hex seed, type, digits, step or counter",
    "pskc": "PSKC (RFC 6030), plain or encrypted",
}
assert set(FORMATS) == set(get_args(Format))  # noqa: S101 - one list of formats
OPTIONAL = Annotated[str, Form(max_length=256)]


@dataclass(frozen=True)
class ImportForm:
    """What the administrator chose, as the page shows it back (never the key or
    password, never the file)."""

    format: str = "otpauth_csv"
    on_existing: str = "skip"
    confirm: str = "now"
    allow_short_secrets: bool = False

    def problem(self) -> str | None:
        if self.format not in FORMATS:
            return "Choose the file's format."
        if self.on_existing not in ("skip", "replace"):
            return "Choose what happens to users who already have an authenticator."
        if self.confirm not in ("now", "first_use"):
            return "Choose when an imported authenticator is confirmed."
        return None


@router.get("/admin/imports", response_class=HTMLResponse)
async def import_page(request: Request, pages: Pages, session: CurrentSession) -> Response:
    if refused := await guard(pages, request, session):
        return refused
    return _page(pages, request, session, ImportForm())


@router.post("/admin/imports", response_class=HTMLResponse, max_body_size=MAX_UPLOAD_BYTES)
async def import_file(
    request: Request,
    pages: Pages,
    session: CurrentSession,
    csrf: Csrf,
    file: UploadFile | None = None,
    mapping: UploadFile | None = None,
    format: OPTIONAL = "otpauth_csv",
    on_existing: OPTIONAL = "skip",
    confirm: OPTIONAL = "now",
    allow_short_secrets: OPTIONAL = "",
    key: OPTIONAL = "",
    password: OPTIONAL = "",
    plan: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A dry run, or (with the dry run's plan) the import itself. Every refusal is this
    page again, with what to change."""
    if refused := await guard(pages, request, session, csrf):
        return refused
    form = ImportForm(format, on_existing, confirm, allow_short_secrets == "true")
    try:
        options, data, secrets = await _read(form, file, mapping, key, password, plan)
        report, error = await _run(pages, session, options, data, secrets)
    except Unusable as unusable:
        return _page(pages, request, session, form, unusable.status, unusable.message)
    return _page(pages, request, session, form, 409 if error else 200, error, report)


class Unusable(Exception):
    """The form or file cannot be imported: the page again, with what to change."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def _read(
    form: ImportForm,
    file: UploadFile | None,
    mapping: UploadFile | None,
    key: str,
    password: str,
    plan: str,
) -> tuple[ImportOptions, bytes, Secrets]:
    if problem := form.problem():
        raise Unusable(422, problem)
    data = await file.read() if file is not None and file.filename else b""
    if not data:
        raise Unusable(422, "Choose the file to import.")
    try:
        secrets = Secrets(bytes.fromhex(key) if key else None, password or None)
        names = mapping_pairs(await mapping.read()) if mapping and mapping.filename else {}
    except ValueError as invalid:  # a key not in hex, or a MalformedFile mapping
        message = str(invalid) if isinstance(invalid, MalformedFile) else "not hex"
        raise Unusable(422, f"The key or mapping: {message}.") from None
    options = ImportOptions(
        form.format,  # type: ignore[arg-type]  # checked by form.problem()
        apply=bool(plan),
        plan=plan or None,
        on_existing=form.on_existing,  # type: ignore[arg-type]
        allow_short_secrets=form.allow_short_secrets,
        mapping=names,
        confirm=form.confirm,  # type: ignore[arg-type]
    )
    return options, data, secrets


async def _run(
    pages: Web, session: Session, options: ImportOptions, data: bytes, secrets: Secrets
) -> tuple[ImportReport, str | None]:
    """The report, and why nothing was imported when a plan changed (the new dry run)."""
    organization = pages.console_organization(session)
    try:
        return await pages.imports.run(organization, data, options, actor(session), secrets), None
    except MalformedFile as malformed:
        raise Unusable(422, f"The file cannot be read: {malformed}.") from None
    except PlanChanged:
        again = replace(options, apply=False, plan=None)
        report = await pages.imports.run(organization, data, again, actor(session), secrets)
        changed = "The file or the users changed since the dry run: nothing was imported."
        return report, f"{changed} Review it again."
    except NotAppliedInTime:
        waiting = "The import is recorded, but enrollment has not confirmed every row yet."
        raise Unusable(504, f"{waiting} Look again in a minute.") from None


def _page(
    pages: Web,
    request: Request,
    session: Session,
    form: ImportForm,
    status: int = 200,
    error: str | None = None,
    report: ImportReport | None = None,
) -> Response:
    context: dict[str, Any] = {"form": form, "formats": FORMATS, "error": error}
    if report is not None:
        context |= {
            "report": report,
            "counts": sorted(report.counts.items()),
            "to_import": sum(1 for r in report.rows if r.outcome in IMPORTED),
        }
    return pages.render(request, "admin_imports.html", session, status, **context)
