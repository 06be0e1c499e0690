"""The reports: GET /reports (the reports of the user's domains, newest
first, filtered by domain, organization, period and result type, a page
at a time),
GET /reports/{id} (one report as the user may see it), GET
/reports/{id}/raw (its input as received, only when every policy in it is
the user's), and GET /explanations (the result types explained). A report
the user may not see is a 404, like one that does not exist."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from tlsrpt.analysis.explain import EXPLANATIONS
from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.store.reads import ReportView
from tlsrpt.store.users import Session
from tlsrpt.web.dashboard.deps import (
    DAY_CHOICES,
    Cursor,
    Days,
    ReverseNamesDep,
    RowId,
    SessionDep,
    StoreDep,
)
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


PAGE_SIZE = 100  # reports per page
Text = Annotated[str, Query(max_length=1024)]


def _day(name: str, text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text.strip() else None
    except ValueError:
        raise HTTPException(400, f"{name}: not a day (YYYY-MM-DD)") from None


def report_list(
    request: Request,
    store: StoreDep,
    session: SessionDep,
    days: Days,
    domain: Text = "",
    org: Text = "",
    result_type: Text = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    cursor: Cursor = None,
) -> HTMLResponse:
    """Reports matching the filter form's fields, newest first, a page at a
    time; without `since` the period is the last `days` days."""
    domain, org, result_type = domain.strip(), org.strip(), result_type.strip()
    last = _day("until", until) or reads.today()
    first = _day("since", since) or reads.period_of(days, last).start
    where = reads.ReportFilter(domain or None, org or None, first, last, result_type or None)
    with store.read() as conn:
        if domain and not reads.is_visible(conn, session.user, domain):
            raise NotFound(session, f"domain {domain}")
        try:
            found = reads.report_page(conn, session.user, where, PAGE_SIZE, cursor)
        except reads.CursorError:
            raise NotFound(session, "page") from None
    fields = {"domain": domain, "org": org, "result_type": result_type}
    fields |= {"since": first.isoformat(), "until": last.isoformat()}
    return page(
        request,
        "reports.html",
        session=session,
        found=found,
        fields=fields,
        base="/reports?" + urlencode(fields) + "&",
        first=cursor is None,
        result_types=sorted(EXPLANATIONS),
        days=days,
        day_choices=DAY_CHOICES,
    )


def report_page(
    request: Request, store: StoreDep, session: SessionDep, rdns: ReverseNamesDep, pk: RowId
) -> HTMLResponse:
    view, data = visible_report(store, session, pk)
    return page(
        request,
        "report.html",
        session=session,
        view=view,
        stored=view.stored,
        r=view.stored.report,
        raw_json=report_json(view, data),
        ptr=rdns.names(f["sending_mta_ip"] for f in view.stored.failures),
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
