"""The quarantine (admins only): GET /quarantine lists the inputs that
held no usable report; POST /quarantine/{id}/retry runs the pipeline on
one again (a form with the session's CSRF token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse

from tlsrpt.ingest.pipeline import reprocess
from tlsrpt.store import reads
from tlsrpt.web.dashboard.deps import AdminDep, RowId, StoreDep, require_csrf
from tlsrpt.web.dashboard.render import NotFound, page

SHOWN = 500  # inputs on the page


def quarantine(request: Request, store: StoreDep, session: AdminDep) -> HTMLResponse:
    with store.read() as conn:
        rows = reads.list_quarantined(conn, SHOWN)
    return page(request, "quarantine.html", session=session, rows=rows, result=None)


def retry(
    request: Request,
    store: StoreDep,
    session: AdminDep,
    raw_id: RowId,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> HTMLResponse:
    require_csrf(session, csrf)
    try:
        (result,) = reprocess(store, [raw_id])
    except KeyError:
        raise NotFound(session, f"raw input {raw_id}") from None
    with store.read() as conn:
        rows = reads.list_quarantined(conn, SHOWN)
    return page(request, "quarantine.html", session=session, rows=rows, result=result)
