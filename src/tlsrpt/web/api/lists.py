"""The API's lists that grow without bound, a page at a time
(`tlsrpt.store.list_reads`): `GET /api/v1/reports` (filtered by domain,
organization, period and result type), `GET
/api/v1/domains/{domain}/failures` and `GET /api/v1/quarantine` (admin).

Each answers `limit` rows and `next_cursor`: pass it as `cursor` to get
the next page (null on the last). A cursor is opaque; one that was not
given by the same list names no page: 404. The period is `since` to `until` (UTC
days); without `since` it is the `days` ending on `until`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from tlsrpt.analysis.period import Period
from tlsrpt.shape import explained_failure_rows, failure_group_dict
from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.store.users import User
from tlsrpt.web.api.routes import (
    _CSV,
    FIRST_UNTIL,
    PREFIX,
    ApiProblem,
    ApiUser,
    Days,
    DomainName,
    Format,
    Limit,
    Until,
    _admin,
    _csv,
    _json,
    _store,
)

Since = Annotated[
    date | None,
    Query(
        ge=FIRST_UNTIL,
        description="first UTC day of the period (default: `days` ending on `until`)",
        json_schema_extra={"pattern": r"^(19[7-9][0-9]|[2-9][0-9]{3})-"},
    ),
]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="the `next_cursor` of the previous page"),
]
_BAD_CURSOR: dict[int | str, dict[str, Any]] = {
    400: {"description": "a cursor not given by this list"}
}


def _period(days: int, since: date | None, until: date | None) -> tuple[date, date]:
    last = until or reads.today()
    return since or last - timedelta(days=days - 1), last


def _visible(store: Store, user: User, domain: str) -> None:
    with store.read() as conn:
        if not reads.is_visible(conn, user, domain):
            raise ApiProblem(404, f"no domain {domain!r} among yours")


def _read(store: Store, read: Any) -> reads.Page:
    """A page, or a 404 problem for a cursor the list did not give (it names no page)."""
    try:
        with store.read() as conn:
            page: reads.Page = read(conn)
            return page
    except reads.CursorError as exc:
        raise ApiProblem(404, f"no such page: {exc}") from None


def report_list(
    request: Request,
    user: ApiUser,
    domain: Annotated[str | None, Query(description="a policy domain as stored")] = None,
    org: Annotated[str | None, Query(max_length=1024, description="reporting organization")] = None,
    result_type: Annotated[
        str | None, Query(max_length=1024, description="with a failure of this result type")
    ] = None,
    days: Days = reads.DEFAULT_DAYS,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    store = _store(request)
    if domain is not None:
        _visible(store, user, domain)
    first, last = _period(days, since, until)
    where = reads.ReportFilter(domain, org, first, last, result_type)
    found = _read(store, lambda conn: reads.report_page(conn, user, where, limit, cursor))
    if format == "csv":
        return _csv(found.rows, (*reads.REPORT_COLUMNS, "domains"), "reports")
    return _json({"reports": found.rows, "next_cursor": found.next_cursor})


def domain_failures(
    request: Request,
    user: ApiUser,
    domain: DomainName,
    result_type: Annotated[str | None, Query(max_length=1024)] = None,
    days: Days = reads.DEFAULT_DAYS,
    since: Since = None,
    until: Until = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """A page of the domain's failure details; `groups`: the failures per
    (day, result type, receiving MX) of the whole period, newest day first,
    each with an `explanation`, which every row of the page carries too.
    CSV: the rows without explanations."""
    store = _store(request)
    _visible(store, user, domain)
    period = Period(*_period(days, since, until))
    found = _read(
        store,
        lambda conn: reads.failure_page(
            conn, domain, period.start, period.end, limit, cursor, result_type
        ),
    )
    if format == "csv":
        return _csv(found.rows, reads.FAILURE_COLUMNS, f"{domain}-failures")
    with store.read() as conn:
        groups = reads.explained_failures(conn, domain, period)
    return _json(
        {
            "domain": domain,
            "failures": explained_failure_rows(found.rows, groups),
            "groups": [failure_group_dict(g, e) for g, e in groups],
            "next_cursor": found.next_cursor,
        }
    )


def quarantine(
    request: Request,
    _user: Annotated[User, Depends(_admin)],
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> Response:
    found = _read(_store(request), lambda conn: reads.quarantine_page(conn, limit, cursor))
    return _json({"quarantined": found.rows, "next_cursor": found.next_cursor})


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["api"])
    router.add_api_route(
        "/reports",
        report_list,
        summary="Stored reports covering visible domains, newest first, a page at a time",
        responses={**_CSV, **_BAD_CURSOR},
    )
    router.add_api_route(
        "/domains/{domain}/failures",
        domain_failures,
        summary="Failure details, newest day first, a page at a time, each group explained "
        "with what was published that day",
        responses={**_CSV, **_BAD_CURSOR},
    )
    router.add_api_route(
        "/quarantine",
        quarantine,
        summary="Quarantined inputs (admin), oldest first, a page at a time",
        responses={403: {"description": "the user is not an admin"}, **_BAD_CURSOR},
    )
    return router
