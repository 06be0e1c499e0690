"""Admin console: registering a list of domains at once, pasted or
uploaded, one domain a line (blank lines and `#` comments skipped), each
line read by the one normaliser (`tlsrpt.domains.read_domain_list`) and
the valid names written in bulk (`tlsrpt.store.domain_import`), optionally
all given to one owner. The answer sums up every line: added, registered
already, repeated, or refused and why. Nothing is written when the owner
does not exist."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from tlsrpt.domains import ListedDomain, read_domain_list
from tlsrpt.store.domain_import import import_domains
from tlsrpt.store.lifecycle import list_users
from tlsrpt.store.users import AccountError, Session
from tlsrpt.web.dashboard.admin_common import (
    Admin,
    AdminForm,
    EmailField,
    audit,
    render,
    store_of,
)

PATH = "/admin/domains/import"
MAX_BYTES = 4 * 1024 * 1024  # an uploaded list: 100,000 long names
MAX_PASTED = 1024 * 1024  # Starlette's limit on a multipart form field
SHOWN_LINES = 2000  # every line's result is listed up to this many lines
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


class ImportRefused(Exception):
    """The list cannot be read at all; the message says why."""


@dataclass(frozen=True, slots=True)
class LineResult:
    entry: ListedDomain
    outcome: str  # added, registered, repeated, invalid
    detail: str


def _outcomes(entries: list[ListedDomain], added: frozenset[str]) -> list[LineResult]:
    out = []
    for e in entries:
        if e.name is None:
            out.append(LineResult(e, "invalid", e.error or "is not a domain name"))
        elif e.repeat_of is not None:
            out.append(LineResult(e, "repeated", f"named on line {e.repeat_of} already"))
        elif e.name in added:
            out.append(LineResult(e, "added", e.name))
        else:
            out.append(LineResult(e, "registered", f"{e.name} was registered already"))
    return out


async def _text(pasted: str, upload: UploadFile | None) -> str:
    """The list: the uploaded file's text, else what was pasted."""
    if upload is None or not upload.filename:
        return pasted
    data = await upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ImportRefused(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("the file is not UTF-8 text") from None


def _form(request: Request, session: Session, status: int = 200, **context: object) -> HTMLResponse:
    with store_of(request).read() as conn:
        customers = [u.email for u in list_users(conn) if not u.admin and u.disabled_at is None]
    context = {"error": None, "results": None, "owner": "", **context}
    return render(
        request,
        "admin_import.html",
        status,
        session=session,
        current=PATH,
        customers=customers,
        shown_lines=SHOWN_LINES,
        **context,
    )


@router.get(PATH)
def import_form(request: Request, session: Admin) -> HTMLResponse:
    return _form(request, session)


@router.post(PATH)
async def import_list(
    request: Request,
    session: AdminForm,
    domains: Annotated[str, Form(max_length=MAX_PASTED)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    owner: EmailField = "",
) -> HTMLResponse:
    owner = owner.strip()
    try:
        entries = read_domain_list(await _text(domains, file))
    except ImportRefused as exc:
        return _form(request, session, 400, error=f"Nothing imported: {exc}.", owner=owner)
    if not entries:
        return _form(request, session, 400, error="Nothing imported: the list is empty.")
    names = [e.name for e in entries if e.name is not None and e.repeat_of is None]
    try:
        with store_of(request).write() as conn:
            done = import_domains(conn, names, owner or None)
    except AccountError as exc:
        return _form(request, session, 400, error=f"Nothing imported: {exc}.", owner=owner)
    audit(session, "domains imported", f"{len(done.added)} added, owner {owner or '-'}")
    results = _outcomes(entries, done.added)
    return _form(
        request,
        session,
        results=results,
        counts=Counter(r.outcome for r in results),
        assigned=len(done.assigned),
        owner=owner,
    )
