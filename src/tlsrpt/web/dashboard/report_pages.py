"""The reports: GET /reports (the latest reports of the user's domains),
GET /reports/{id} (one report as the user may see it), GET
/reports/{id}/raw (its input as received, only when every policy in it is
the user's), and GET /explanations (the result types explained). A report
the user may not see is a 404, like one that does not exist."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from tlsrpt.analysis.explain import EXPLANATIONS
from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.store.reads import ReportView
from tlsrpt.store.users import Session
from tlsrpt.web.dashboard.deps import DAY_CHOICES, Days, RowId, SessionDep, StoreDep
from tlsrpt.web.dashboard.raw import report_json
from tlsrpt.web.dashboard.render import NotFound, attachment, page


def visible_report(
    store: Store, session: Session, pk: int, *, raw: bool = False
) -> tuple[ReportView, bytes | None]:
    """The report as the user sees it and its input's bytes when the user
    may have them; `NotFound` when the report does not exist or is another
    customer's, and, with `raw`, when the input's bytes hold a policy of a
    domain the user may not see."""
    with store.read() as conn:
        view = reads.visible_report(conn, session.user, pk)
        if view is None or (raw and not view.raw_allowed):
            raise NotFound(session, f"report {pk}")
        data = reads.raw_bytes(conn, view.stored.raw["id"]) if view.raw_allowed else None
        return view, data


def report_list(
    request: Request, store: StoreDep, session: SessionDep, days: Days, domain: str | None = None
) -> HTMLResponse:
    with store.read() as conn:
        if domain is not None and not reads.is_visible(conn, session.user, domain):
            raise NotFound(session, f"domain {domain}")
        rows = reads.report_list(conn, session.user, domain, reads.period_of(days), 200)
    return page(
        request,
        "reports.html",
        session=session,
        rows=rows,
        domain=domain,
        days=days,
        day_choices=DAY_CHOICES,
    )


def report_page(request: Request, store: StoreDep, session: SessionDep, pk: RowId) -> HTMLResponse:
    view, data = visible_report(store, session, pk)
    return page(
        request,
        "report.html",
        session=session,
        view=view,
        stored=view.stored,
        r=view.stored.report,
        raw_json=report_json(view, data),
    )


def report_raw(store: StoreDep, session: SessionDep, pk: RowId) -> Response:
    view, data = visible_report(store, session, pk, raw=True)
    assert data is not None  # raw=True: only a view whose bytes may be had
    extension = {"json": "json", "gzip": "json.gz", "email": "eml"}.get(
        view.stored.raw["kind"] or "", "bin"
    )
    return attachment(data, "application/octet-stream", f"report-{pk}.{extension}")


def explanations(request: Request, session: SessionDep) -> HTMLResponse:
    return page(request, "explanations.html", session=session, items=EXPLANATIONS)
