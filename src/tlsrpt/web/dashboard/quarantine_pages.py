"""The quarantine (admins only): GET /quarantine lists the inputs that
held no usable report, a page at a time; GET /quarantine/{id} shows one
input with its bytes (escaped, size-capped, binary as hex: `raw.preview`),
GET /quarantine/{id}/raw downloads them; POST /quarantine/{id}/retry runs
the pipeline on it again (a form with the session's CSRF token) and
answers with a redirect to the input's page, so a reload does not post
again."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tlsrpt.ingest.pipeline import reprocess
from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.store.users import Session
from tlsrpt.web.dashboard.deps import AdminDep, Cursor, RowId, StoreDep, require_csrf
from tlsrpt.web.dashboard.raw import preview
from tlsrpt.web.dashboard.render import NotFound, attachment, page

PAGE_SIZE = 100  # inputs per page


def quarantine(
    request: Request, store: StoreDep, session: AdminDep, cursor: Cursor = None
) -> HTMLResponse:
    with store.read() as conn:
        try:
            found = reads.quarantine_page(conn, PAGE_SIZE, cursor)
        except reads.CursorError:
            raise NotFound(session, "page") from None
    return page(request, "quarantine.html", session=session, found=found, first=cursor is None)


def _input(store: Store, session: Session, raw_id: int) -> tuple[dict[str, object], bytes]:
    with store.read() as conn:
        found = reads.raw_input(conn, raw_id)
    if found is None:
        raise NotFound(session, f"raw input {raw_id}")
    return found


def raw_page(
    request: Request,
    store: StoreDep,
    session: AdminDep,
    raw_id: RowId,
    retried: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    meta, data = _input(store, session, raw_id)
    return page(
        request, "raw_input.html", session=session, raw=meta, shown=preview(data), retried=retried
    )


def raw_download(store: StoreDep, session: AdminDep, raw_id: RowId) -> Response:
    _, data = _input(store, session, raw_id)
    return attachment(data, "application/octet-stream", f"input-{raw_id}.bin")


def retry(
    store: StoreDep,
    session: AdminDep,
    raw_id: RowId,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    require_csrf(session, csrf)
    try:
        reprocess(store, [raw_id])
    except KeyError:
        raise NotFound(session, f"raw input {raw_id}") from None
    return RedirectResponse(f"/quarantine/{raw_id}?retried=true", status_code=303)
