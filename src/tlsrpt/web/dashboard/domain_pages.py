"""The domains: GET / (the overview, a page of `PAGE_SIZE` domains, with
the verdict counts over all of them), GET /domains/{domain} (one domain,
with the watcher's current state and history), its CSV exports
(/export/daily.csv, /export/failures.csv) and the overview's sparkline
images (/charts/failure-rate.svg). A domain the user may not see is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from tlsrpt.export import to_csv
from tlsrpt.shape import DAILY_COLUMNS, daily_rows
from tlsrpt.store import reads
from tlsrpt.store import watch as watch_store
from tlsrpt.store.domain_list import SORTS, BadCursor, DomainQuery, Sort
from tlsrpt.watch.history import timeline
from tlsrpt.web.dashboard.charts import (
    daily_chart,
    failure_rate_label,
    parse_spark_query,
    parse_spark_top,
    spark_query,
    spark_scale,
    sparkline,
)
from tlsrpt.web.dashboard.deps import (
    DAY_CHOICES,
    Cursor,
    Days,
    DomainName,
    ReverseNamesDep,
    SessionDep,
    StoreDep,
)
from tlsrpt.web.dashboard.domain_extras import domain_extras
from tlsrpt.web.dashboard.render import NotFound, attachment, page
from tlsrpt.web.dashboard.watch_view import (
    HISTORY_CHANGES,
    current_state,
    days_left,
    history_entries,
)
from tlsrpt.web.verdicts import domain_list

PAGE_SIZE = 50  # domains per overview page (a hosting provider has thousands)
SORT_LABELS = {
    "name": "name",
    "failure_rate": "failure rate",
    "verdict": "MTA-STS verdict",
    "alerts": "firing alerts",
}
FAILURES_SHOWN = 50  # failure details per page of the domain page
# A standalone chart: pygal's own stylesheet, never a script; the same
# URL always draws the same chart. (The other security headers are added
# by `tlsrpt.web.headers`.)
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "Cache-Control": "private, max-age=86400",
}


def _overview_items(
    conn: Connection, rows: list[reads.DomainOverview], shown: list[str]
) -> list[tuple[Any, ...]]:
    """Per domain shown: its overview, sparkline query and label, firing
    alerts, whether the watcher checked it, and the days its first
    certificate has left."""
    firing = reads.firing_counts(conn, shown)
    expiries = reads.earliest_expiries(conn, shown)
    now = datetime.now(UTC)
    return [
        (
            o,
            spark_query(o.analysis.daily),
            failure_rate_label([p.failure_rate for p in o.analysis.daily]),
            firing.get(o.analysis.domain, 0),
            o.analysis.domain in expiries,  # checked by the watcher
            days_left(expiries.get(o.analysis.domain), now),
        )
        for o in rows
    ]


def overview(
    request: Request,
    store: StoreDep,
    session: SessionDep,
    days: Days,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    q: Annotated[str, Query(max_length=253)] = "",
    sort: str = "name",
) -> HTMLResponse:
    period = reads.period_of(days)
    order: Sort = next((s for s in SORTS if s == sort), "name")
    query = DomainQuery(PAGE_SIZE, cursor, q.strip(), order)
    cache, orders = request.app.state.verdicts, request.app.state.rate_orders
    names = request.app.state.visible_names
    try:
        found, tally = domain_list(
            store, cache, session.user, period, query, counts=True, by_rate=orders, names_of=names
        )
    except BadCursor:  # a link from an older page: its first page
        query = DomainQuery(PAGE_SIZE, None, query.q, order)
        found, tally = domain_list(
            store, cache, session.user, period, query, counts=True, by_rate=orders, names_of=names
        )
    rows = list(found.items)
    with store.read() as conn:
        items = _overview_items(conn, rows, [o.analysis.domain for o in rows])
    every_rate = [p.failure_rate for o in rows for p in o.analysis.daily]
    return page(
        request,
        "overview.html",
        session=session,
        items=items,
        spark_top=f"{spark_scale(every_rate):.6g}",
        period=period,
        days=days,
        day_choices=DAY_CHOICES,
        tally=tally,
        total=found.total,
        next_cursor=found.next_cursor,
        paged=cursor is not None,
        q=query.q,
        sort=order,
        sorts=SORT_LABELS,
    )


def domain_csv(
    store: StoreDep, session: SessionDep, kind: str, domain: str, days: Days
) -> Response:
    period = reads.period_of(days)
    with store.read() as conn:
        detail = reads.domain_detail(conn, session.user, domain, period)
        if detail is None or kind not in ("daily", "failures"):
            raise NotFound(session, f"{domain} {kind}.csv")
        if kind == "daily":
            text = to_csv(daily_rows(detail.analysis), DAILY_COLUMNS)
        else:
            rows = reads.failure_list(conn, domain, period, 100_000)
            text = to_csv(rows, reads.FAILURE_COLUMNS)
    return attachment(text, "text/csv; charset=utf-8", f"{kind}.csv")


def _watch_context(conn: Connection, domain: str) -> dict[str, Any]:
    """The watcher's view of the domain: current state, history, schedule, firing alerts."""
    # the states holding the latest changes (+1: the last one is only compared with)
    states = timeline(watch_store.states(conn, domain, HISTORY_CHANGES + 1), HISTORY_CHANGES)
    return {
        "current": current_state(states[0], datetime.now(UTC)) if states else None,
        "history": history_entries(states),
        "schedule": watch_store.schedule_row(conn, domain),
        "firing": reads.firing_counts(conn, [domain]).get(domain, 0),
    }


def domain_page(
    request: Request,
    store: StoreDep,
    session: SessionDep,
    domain: DomainName,
    days: Days,
    rdns: ReverseNamesDep,
    fcursor: Cursor = None,
) -> HTMLResponse:
    """The domain over the period; its failure details a page at a time
    (`fcursor`: the next page's cursor)."""
    period = reads.period_of(days)
    with store.read() as conn:
        detail = reads.domain_detail(conn, session.user, domain, period)
        if detail is None:
            raise NotFound(session, f"domain {domain}")
        try:
            failures = reads.failure_page(
                conn, domain, period.start, period.end, FAILURES_SHOWN, fcursor
            )
        except reads.CursorError:
            raise NotFound(session, "page") from None
        watched = _watch_context(conn, domain)
        extras = domain_extras(conn, domain, period, detail.readiness, request.app.state)
    top_ips = [ip for ip, _ in detail.analysis.failures_by_sending_ip[:10]]
    ptr = rdns.names([*top_ips, *(f["sending_mta_ip"] for f in failures.rows)])
    return page(
        request,
        "domain.html",
        session=session,
        detail=detail,
        a=detail.analysis,
        chart=daily_chart(detail.analysis.daily, domain),
        failures=failures,
        first_failures=fcursor is None,
        ptr=ptr,
        **extras,
        period=period,
        days=days,
        day_choices=DAY_CHOICES,
        **watched,
    )


def failure_rate_svg(
    session: SessionDep,
    r: Annotated[str, Query(max_length=8000)],
    top: Annotated[str, Query(max_length=32)] = "0.05",
) -> Response:
    """A sparkline, a pure function of its URL (the overview's `<img>`):
    the daily rates `r` on the page's shared scale `top`."""
    rates, scale = parse_spark_query(r), parse_spark_top(top)
    if rates is None or scale is None:
        raise NotFound(session, "chart")
    return Response(sparkline(rates, scale), media_type="image/svg+xml", headers=SVG_HEADERS)
