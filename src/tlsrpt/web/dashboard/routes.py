"""The dashboard: server-rendered pages over the read model (`tlsrpt.store.reads`).

Pages: /login, / (overview), /domains/{domain} (with CSV exports and the
watcher's current state and history), /reports, /reports/{id}, /alerts
(with ack and mute, `alert_pages`), /quarantine (admin, with retry), and
the overview's sparkline images (/charts/failure-rate.svg). Every page needs
a session (`auth`); a domain or report the user may not see is a 404.
Templates are Jinja2 with autoescape on and never `|safe` (the daily chart
is Markup serialized by pygal's element tree, which escapes); the pages carry
no script, and the Content-Security-Policy forbids any (`tlsrpt.web.headers`
sets it on every answer). A domain's page is reachable whatever its name:
links write it as one percent-encoded segment (`tlsrpt.web.segments`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tlsrpt.analysis.explain import EXPLANATIONS, explain
from tlsrpt.export import to_csv
from tlsrpt.ingest.pipeline import reprocess
from tlsrpt.shape import DAILY_COLUMNS, daily_rows
from tlsrpt.store import reads
from tlsrpt.store import watch as watch_store
from tlsrpt.store.domain_list import SORTS, BadCursor, DomainQuery, Sort
from tlsrpt.store.engine import Store
from tlsrpt.store.reads import ReportView
from tlsrpt.store.users import authenticate, end_session, start_session
from tlsrpt.watch.history import timeline
from tlsrpt.web.dashboard import auth
from tlsrpt.web.dashboard.alert_pages import add_alert_routes
from tlsrpt.web.dashboard.charts import (
    daily_chart,
    failure_rate_label,
    parse_spark_query,
    spark_query,
    sparkline,
)
from tlsrpt.web.dashboard.raw import report_json
from tlsrpt.web.dashboard.watch_view import (
    HISTORY_CHANGES,
    current_state,
    days_left,
    days_text,
    expiry_class,
    history_entries,
)
from tlsrpt.web.segments import decoded, segment
from tlsrpt.web.verdicts import domain_list

HERE = FsPath(__file__).parent
DAY_CHOICES = (7, 30, 60, 90)
PAGE_SIZE = 50  # domains per overview page (a hosting provider has thousands)
SORT_LABELS = {
    "name": "name",
    "failure_rate": "failure rate",
    "verdict": "MTA-STS verdict",
    "alerts": "firing alerts",
}
# A standalone chart: pygal's own stylesheet, never a script; the same
# URL always draws the same chart. (The other security headers are added
# by `tlsrpt.web.headers`.)
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "Cache-Control": "private, max-age=86400",
}


def _policy_domain(request: Request, domain: Annotated[str, Path()]) -> str:
    return decoded(request, domain)


# Any text: a policy domain as a report wrote it (even with "/"), any length.
DomainName = Annotated[str, Depends(_policy_domain)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a BIGINT key


def _attachment(body: bytes | str, media_type: str, filename: str) -> Response:
    """A download; `filename` is built from our own ids, never report text."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)


def _percent(rate: float | None) -> str:
    if rate is None:
        return "–"
    return f"{rate:.2%}" if rate < 0.1 else f"{rate:.1%}"


def health(rate: float | None) -> str:
    if rate is None:
        return "no-data"
    if rate <= 0.01:
        return "healthy"
    return "degraded" if rate <= 0.05 else "failing"


@cache
def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = _percent
    env.filters["number"] = lambda n: "–" if n is None else f"{n:,}"
    env.filters["segment"] = segment  # a domain in a path: one escaped segment
    env.filters["days_text"] = days_text  # whole days left: "12 days", "expired 3 days ago"
    env.filters["expiry_class"] = expiry_class
    env.filters["utc"] = lambda t: "–" if t is None else f"{t:%Y-%m-%d %H:%M} UTC"
    env.globals["health"] = health
    env.globals["explain"] = explain
    return Jinja2Templates(env=env)


def build_router() -> APIRouter:
    templates = _templates()
    router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

    def store_of(request: Request) -> Store:
        store: Store = request.app.state.store
        return store

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    def not_found(request: Request, session: Any, what: str) -> HTMLResponse:
        return page(request, "not_found.html", 404, session=session, what=what)

    def visible_report(
        request: Request, pk: int, *, raw: bool = False
    ) -> tuple[Any, ReportView, bytes | None] | HTMLResponse:
        """(session, the report as the user sees it, its input's bytes when
        the user may have them), or the 404 page when the report does not
        exist or is another customer's, and, with `raw`, when the input's
        bytes hold a policy of a domain the user may not see."""
        store = store_of(request)
        session = auth.require_session(request, store)
        with store.read() as conn:
            view = reads.visible_report(conn, session.user, pk)
            if view is None or (raw and not view.raw_allowed):
                return not_found(request, session, f"report {pk}")
            data = reads.raw_bytes(conn, view.stored.raw["id"]) if view.raw_allowed else None
            return session, view, data

    def days_of(days: int) -> int:
        return days if 1 <= days <= reads.MAX_DAYS else reads.DEFAULT_DAYS

    @router.get("/login")
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        token = secrets.token_urlsafe(32)
        answer = page(request, "login.html", session=None, csrf=token, next=auth.safe_next(next))
        auth.set_cookie(request, answer, auth.LOGIN_CSRF_COOKIE, token, 3600)
        return answer

    @router.post("/login")
    def login(
        request: Request,
        email: Annotated[str, Form(max_length=320)],
        password: Annotated[str, Form(max_length=1024)],
        csrf: Annotated[str, Form(max_length=128)] = "",
        next: Annotated[str, Form(max_length=2048)] = "/",
    ) -> Response:
        target = auth.safe_next(next)
        if not auth.check_csrf(request.cookies.get(auth.LOGIN_CSRF_COOKIE), csrf):
            return page(
                request,
                "login.html",
                403,
                session=None,
                csrf=request.cookies.get(auth.LOGIN_CSRF_COOKIE) or "",
                next=target,
                error="The form expired; please try again.",
            )
        store = store_of(request)
        with store.read() as conn:
            user = authenticate(conn, email, password)
        if user is None:
            return page(
                request,
                "login.html",
                401,
                session=None,
                csrf=csrf,
                next=target,
                error="Wrong e-mail address or password.",
                email=email,
            )
        with store.write() as conn:
            cookie, _ = start_session(conn, user)
        answer = RedirectResponse(target, status_code=303)
        auth.set_session_cookie(request, answer, cookie)
        answer.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/")
        return answer

    @router.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
        store = store_of(request)
        session = auth.require_session(request, store)
        if not auth.check_csrf(session.csrf_token, csrf):
            return page(request, "forbidden.html", 403, session=session)
        with store.write() as conn:
            end_session(conn, request.cookies[auth.SESSION_COOKIE])
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(auth.SESSION_COOKIE, path="/")
        return answer

    @router.get("/")
    def overview(
        request: Request,
        days: int = reads.DEFAULT_DAYS,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
        q: Annotated[str, Query(max_length=253)] = "",
        sort: str = "name",
    ) -> HTMLResponse:
        store = store_of(request)
        session = auth.require_session(request, store)
        days = days_of(days)
        period = reads.period_of(days)
        order: Sort = next((s for s in SORTS if s == sort), "name")
        query = DomainQuery(PAGE_SIZE, cursor, q.strip(), order)
        cache = request.app.state.verdicts
        try:
            found, tally = domain_list(store, cache, session.user, period, query, counts=True)
        except BadCursor:  # a link from an older page: its first page
            query = DomainQuery(PAGE_SIZE, None, q.strip(), order)
            found, tally = domain_list(store, cache, session.user, period, query, counts=True)
        shown = [o.analysis.domain for o in found.items]
        with store.read() as conn:
            firing = reads.firing_counts(conn, shown)
            expiries = reads.earliest_expiries(conn, shown)
        now = datetime.now(UTC)
        items = [
            (
                o,
                spark_query(o.analysis.daily),
                failure_rate_label([p.failure_rate for p in o.analysis.daily]),
                firing.get(o.analysis.domain, 0),
                o.analysis.domain in expiries,  # checked by the watcher
                days_left(expiries.get(o.analysis.domain), now),
            )
            for o in found.items
        ]
        return page(
            request,
            "overview.html",
            session=session,
            items=items,
            period=period,
            days=days,
            day_choices=DAY_CHOICES,
            tally=tally,
            total=found.total,
            next_cursor=found.next_cursor,
            paged=cursor is not None,
            q=q.strip(),
            sort=order,
            sorts=SORT_LABELS,
        )

    @router.get("/export/{kind}.csv", response_class=Response)
    def domain_csv(
        request: Request,
        kind: str,
        domain: str,
        days: int = reads.DEFAULT_DAYS,
    ) -> Response:
        store = store_of(request)
        session = auth.require_session(request, store)
        period = reads.period_of(days_of(days))
        with store.read() as conn:
            detail = reads.domain_detail(conn, session.user, domain, period)
            if detail is None or kind not in ("daily", "failures"):
                return not_found(request, session, f"{domain} {kind}.csv")
            if kind == "daily":
                text = to_csv(daily_rows(detail.analysis), DAILY_COLUMNS)
            else:
                rows = reads.failure_list(conn, domain, period, 100_000)
                text = to_csv(rows, reads.FAILURE_COLUMNS)
        return _attachment(text, "text/csv; charset=utf-8", f"{kind}.csv")

    @router.get("/domains/{domain:path}")
    def domain_page(
        request: Request, domain: DomainName, days: int = reads.DEFAULT_DAYS
    ) -> HTMLResponse:
        store = store_of(request)
        session = auth.require_session(request, store)
        days = days_of(days)
        period = reads.period_of(days)
        with store.read() as conn:
            detail = reads.domain_detail(conn, session.user, domain, period)
            if detail is None:
                return not_found(request, session, f"domain {domain}")
            failures = reads.failure_list(conn, domain, period, 50)
            # the states holding the latest changes (+1: the last one is
            # only compared with)
            states = timeline(
                watch_store.states(conn, domain, HISTORY_CHANGES + 1), HISTORY_CHANGES
            )
            schedule = watch_store.schedule_row(conn, domain)
            firing = reads.firing_counts(conn, [domain]).get(domain, 0)
        return page(
            request,
            "domain.html",
            session=session,
            detail=detail,
            a=detail.analysis,
            chart=daily_chart(detail.analysis.daily, domain),
            failures=failures,
            current=current_state(states[0], datetime.now(UTC)) if states else None,
            history=history_entries(states),
            schedule=schedule,
            firing=firing,
            period=period,
            days=days,
            day_choices=DAY_CHOICES,
        )

    @router.get("/charts/failure-rate.svg", response_class=Response)
    def failure_rate_svg(request: Request, r: Annotated[str, Query(max_length=8000)]) -> Response:
        """A sparkline, a pure function of its URL (the overview's `<img>`)."""
        session = auth.require_session(request, store_of(request))
        rates = parse_spark_query(r)
        if rates is None:
            return not_found(request, session, "chart")
        return Response(sparkline(rates), media_type="image/svg+xml", headers=SVG_HEADERS)

    @router.get("/reports")
    def report_list(
        request: Request,
        domain: str | None = None,
        days: int = reads.DEFAULT_DAYS,
    ) -> HTMLResponse:
        store = store_of(request)
        session = auth.require_session(request, store)
        days = days_of(days)
        with store.read() as conn:
            if domain is not None and not reads.is_visible(conn, session.user, domain):
                return not_found(request, session, f"domain {domain}")
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

    @router.get("/reports/{pk}")
    def report_page(request: Request, pk: RowId) -> HTMLResponse:
        found = visible_report(request, pk)
        if isinstance(found, HTMLResponse):
            return found
        session, view, data = found
        return page(
            request,
            "report.html",
            session=session,
            view=view,
            stored=view.stored,
            r=view.stored.report,
            raw_json=report_json(view, data),
        )

    @router.get("/reports/{pk}/raw", response_class=Response)
    def report_raw(request: Request, pk: RowId) -> Response:
        found = visible_report(request, pk, raw=True)
        if isinstance(found, HTMLResponse):
            return found
        _, view, data = found
        assert data is not None  # raw=True: only a view whose bytes may be had
        extension = {"json": "json", "gzip": "json.gz", "email": "eml"}.get(
            view.stored.raw["kind"] or "", "bin"
        )
        return _attachment(data, "application/octet-stream", f"report-{pk}.{extension}")

    @router.get("/quarantine")
    def quarantine(request: Request) -> HTMLResponse:
        store = store_of(request)
        session = auth.require_session(request, store)
        if not session.user.is_admin:
            return page(request, "forbidden.html", 403, session=session)
        with store.read() as conn:
            rows = reads.list_quarantined(conn, 500)
        return page(request, "quarantine.html", session=session, rows=rows, result=None)

    @router.post("/quarantine/{raw_id}/retry")
    def retry(
        request: Request, raw_id: RowId, csrf: Annotated[str, Form(max_length=128)] = ""
    ) -> HTMLResponse:
        store = store_of(request)
        session = auth.require_session(request, store)
        if not session.user.is_admin or not auth.check_csrf(session.csrf_token, csrf):
            return page(request, "forbidden.html", 403, session=session)
        try:
            (result,) = reprocess(store, [raw_id])
        except KeyError:
            return not_found(request, session, f"raw input {raw_id}")
        with store.read() as conn:
            rows = reads.list_quarantined(conn, 500)
        return page(request, "quarantine.html", session=session, rows=rows, result=result)

    @router.get("/explanations")
    def explanations(request: Request) -> HTMLResponse:
        session = auth.require_session(request, store_of(request))
        return page(request, "explanations.html", session=session, items=EXPLANATIONS)

    add_alert_routes(router, page, not_found)
    return router


def error_page(request: Request, status: int, detail: str) -> Response:
    """An error as a page, for a browser (`tlsrpt.web.problems`): no
    session is looked up, `detail` is escaped like every other text."""
    return _templates().TemplateResponse(
        request,
        "error.html",
        {"session": None, "title": HTTPStatus(status).phrase, "status": status, "detail": detail},
        status_code=status,
    )


def install(app: FastAPI) -> None:
    """Add the dashboard and its static files to `app`."""

    async def on_login_required(request: Request, _exc: Exception) -> Response:
        return auth.login_redirect(request)

    app.add_exception_handler(auth.LoginRequired, on_login_required)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(build_router())
    # Compiled now, at startup, not by the first view after a restart.
    for template in (HERE / "templates").glob("*.html"):
        _templates().env.get_template(template.name)
