"""The JSON API, `/api/v1/`, described by the app's OpenAPI schema at
`/openapi.json`. Every call needs `Authorization: Bearer TOKEN`
(`tlsrpt token create EMAIL`): 401 without a valid token. An admin sees
every domain; other users see only the domains assigned to them, and any
other domain or report is answered 404, as if it did not exist.

Errors are RFC 9457 problem details (`tlsrpt.web.problems`), and the
schema says so. A domain in a path is one percent-encoded segment ("/" as
%2F, `tlsrpt.web.segments`), whatever its length. List endpoints also
answer `?format=csv` (`tlsrpt.export`); timestamps are UTC with a `Z`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tlsrpt.export import json_bytes, to_csv
from tlsrpt.ingest.pipeline import reprocess
from tlsrpt.shape import (
    DAILY_COLUMNS,
    DOMAIN_COLUMNS,
    daily_rows,
    domain_detail_dict,
    domain_item,
    domain_row,
    report_dict,
)
from tlsrpt.store import budget, reads
from tlsrpt.store.alerts import AlertFilter, alerts_for_user
from tlsrpt.store.domain_list import BadCursor, DomainQuery, Sort
from tlsrpt.store.engine import Store
from tlsrpt.store.users import User, user_for_token
from tlsrpt.web.problems import problem
from tlsrpt.web.segments import decoded
from tlsrpt.web.verdicts import domain_list

PREFIX = "/api/v1"
_bearer = HTTPBearer(auto_error=False, description="a token from `tlsrpt token create EMAIL`")


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _lookup_token(store: Store, token: str) -> User | None:
    with store.read() as conn:
        return user_for_token(conn, token)


async def api_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(401, "an API token is required", {"WWW-Authenticate": "Bearer"})
    user = await run_in_threadpool(_lookup_token, _store(request), credentials.credentials)
    if user is None:
        raise ApiProblem(
            401, "the API token is not valid", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return user


def _admin(user: Annotated[User, Depends(api_user)]) -> User:
    if not user.is_admin:
        raise ApiProblem(403, "only an admin may do this")
    return user


ApiUser = Annotated[User, Depends(api_user)]
Days = Annotated[
    int,
    Query(ge=1, le=reads.MAX_DAYS, description="period length in UTC days, ending on `until`"),
]
# From 1970 on, so that the period and the one before it stay within the
# calendar (the pattern says so in the schema, which has no minimum date).
FIRST_UNTIL = date(1970, 1, 1)
Until = Annotated[
    date | None,
    Query(
        ge=FIRST_UNTIL,
        description="last UTC day of the period (default: today), 1970-01-01 or later",
        json_schema_extra={"pattern": r"^(19[7-9][0-9]|[2-9][0-9]{3})-"},
    ),
]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
Limit = Annotated[int, Query(ge=1, le=100_000)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a BIGINT key


def policy_domain(
    request: Request,
    domain: Annotated[
        str, Path(description="policy domain as stored, percent-encoded ('/' as %2F)")
    ],
) -> str:
    return decoded(request, domain)


DomainName = Annotated[str, Depends(policy_domain)]


def _json(body: Any) -> Response:
    return Response(json_bytes(body), media_type="application/json")


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...], name: str) -> Response:
    # The name holds a policy domain as a report wrote it: keep a safe subset.
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return Response(
        to_csv(rows, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


ReasonValue = int | float | str | list[str] | None


class ReasonOut(BaseModel):
    check: str
    passed: bool
    text: str
    value: ReasonValue
    threshold: ReasonValue


class RecordOut(BaseModel):
    name: str
    type: str
    value: str


class EnforcePolicyOut(BaseModel):
    text: str
    records: list[RecordOut]
    url: str
    mode: Literal["enforce"]
    mx: list[str]
    max_age: int
    source: Literal["snapshot", "reports"]


class ReadinessOut(BaseModel):
    verdict: Literal["ready", "not-ready", "insufficient-data"]
    reasons: list[ReasonOut]
    clean_since: date | None
    large_senders: list[str]
    enforce_policy: EnforcePolicyOut | None


class DomainOut(BaseModel):
    domain: str
    reports: int
    successful_sessions: int
    failed_sessions: int
    failure_rate: float | None
    days_with_data: int
    readiness: ReadinessOut


class DomainList(BaseModel):
    start: date
    end: date
    domains: list[DomainOut]
    total: int
    next_cursor: str | None


class DailyOut(BaseModel):
    day: date
    reports: int
    successful_sessions: int | None
    failed_sessions: int | None
    failure_rate: float | None


class DailyList(BaseModel):
    domain: str
    daily: list[DailyOut]


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such domain or report, or not one of yours"}
}
_ADMIN: dict[int | str, dict[str, Any]] = {403: {"description": "the user is not an admin"}}
_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"description": "no valid API token"}}
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON or CSV"}
}


StoreDep = Annotated[Store, Depends(_store)]
AdminUser = Annotated[User, Depends(_admin)]
DomainLimit = Annotated[int, Query(ge=1, le=1000, description="domains per page")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page")
]
Search = Annotated[str, Query(max_length=253, description="a substring of the domain name")]
SortBy = Annotated[
    Sort,
    Query(
        description="name; failure_rate (worst first); verdict (ready, not ready, "
        "insufficient data); alerts (most firing first)"
    ),
]


def _visible(store: Store, user: User, domain: str) -> None:
    with store.read() as conn:
        if not reads.is_visible(conn, user, domain):
            raise ApiProblem(404, f"no domain {domain!r} among yours")


def _detail(store: Store, user: User, domain: str, days: int, until: date | None) -> Any:
    with store.read() as conn:
        found = reads.domain_detail(conn, user, domain, reads.period_of(days, until))
    if found is None:
        raise ApiProblem(404, f"no domain {domain!r} among yours")
    return found


def _stored(store: Store, user: User, pk: int, *, raw: bool = False) -> Any:
    """The report as the user sees it; with `raw`, also its input's bytes,
    which a user gets only when every policy in them is theirs (otherwise
    the same 404 as a report that does not exist)."""
    with store.read() as conn:
        found = reads.visible_report(conn, user, pk)
        if found is None or (raw and not found.raw_allowed):
            raise ApiProblem(404, f"no report {pk} among yours")
        return found, reads.raw_bytes(conn, found.stored.raw["id"]) if raw else b""


def me(user: ApiUser) -> dict[str, Any]:
    return {"email": user.email, "admin": user.is_admin}


def domains(
    request: Request,
    store: StoreDep,
    user: ApiUser,
    days: Days = reads.DEFAULT_DAYS,
    until: Until = None,
    limit: DomainLimit = 100,
    cursor: Cursor = None,
    q: Search = "",
    sort: SortBy = "name",
    format: Format = "json",
) -> Response:
    period = reads.period_of(days, until)
    query = DomainQuery(limit, cursor, q, sort)
    try:
        cache = request.app.state.verdicts
        orders = request.app.state.rate_orders
        found, _ = domain_list(
            store,
            cache,
            user,
            period,
            query,
            counts=until is None,
            by_rate=orders,
            names_of=request.app.state.visible_names,
        )
    except BadCursor as exc:
        raise ApiProblem(404, f"no page of this list at that cursor: {exc}") from None
    if format == "csv":
        answer = _csv([domain_row(o) for o in found.items], DOMAIN_COLUMNS, "domains")
        if found.next_cursor:
            answer.headers["X-Next-Cursor"] = found.next_cursor
        return answer
    items = [domain_item(o) for o in found.items]
    return _json(
        {
            "start": period.start,
            "end": period.end,
            "domains": items,
            "total": found.total,
            "next_cursor": found.next_cursor,
        }
    )


def domain_summary(
    store: StoreDep,
    user: ApiUser,
    domain: DomainName,
    days: Days = reads.DEFAULT_DAYS,
    until: Until = None,
) -> Response:
    return _json(domain_detail_dict(_detail(store, user, domain, days, until)))


def domain_daily(
    store: StoreDep,
    user: ApiUser,
    domain: DomainName,
    days: Days = reads.DEFAULT_DAYS,
    until: Until = None,
    format: Format = "json",
) -> Response:
    rows = daily_rows(_detail(store, user, domain, days, until).analysis)
    if format == "csv":
        return _csv(rows, DAILY_COLUMNS, f"{domain}-daily")
    return _json({"domain": domain, "daily": rows})


def report(store: StoreDep, user: ApiUser, pk: RowId) -> Response:
    found, _ = _stored(store, user, pk)
    return _json(report_dict(found))


def report_raw(store: StoreDep, user: ApiUser, pk: RowId) -> Response:
    found, data = _stored(store, user, pk, raw=True)
    extension = {"json": "json", "gzip": "json.gz", "email": "eml"}.get(
        found.stored.raw["kind"] or "", "bin"
    )
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="report-{pk}.{extension}"'},
    )


def alert_list(
    store: StoreDep,
    user: ApiUser,
    domain: Annotated[str | None, Query(max_length=253)] = None,
    include_resolved: Annotated[bool, Query(alias="all", description="resolved too")] = False,
    limit: Limit = 1000,
) -> Response:
    if domain is not None:
        _visible(store, user, domain)
    selection = AlertFilter(include_resolved, domain, limit)
    with store.read() as conn:
        return _json({"alerts": alerts_for_user(conn, user, selection)})


def quarantine_budget(
    request: Request,
    store: StoreDep,
    _user: AdminUser,
    days: Annotated[int, Query(ge=1, le=366, description="UTC days, ending today")] = 1,
    limit: Limit = 1000,
) -> Response:
    since = datetime.now(UTC).date() - timedelta(days=days - 1)
    settings = request.app.state.settings
    with store.read() as conn:
        totals, clients = budget.totals(conn, since), budget.usage(conn, since, limit)
    limits = {
        "inputs": settings.http.quarantine_budget_inputs,
        "bytes": settings.http.quarantine_budget_bytes,
    }
    return _json(
        {
            "since": since.isoformat(),
            "per_client_per_day": limits,
            "totals": totals,
            "clients": clients,
        }
    )


def retry(store: StoreDep, _user: AdminUser, raw_id: RowId) -> Response:
    try:
        (result,) = reprocess(store, [raw_id])
    except KeyError:
        raise ApiProblem(404, f"no raw input {raw_id}") from None
    return _json(
        {
            "raw_id": result.raw_id,
            "outcome": result.outcome,
            "reason": result.reason,
            "report_ids": list(result.report_ids),
        }
    )


# (path, handler, method, summary, extra route options): the API's routes.
ROUTES: tuple[tuple[str, Callable[..., Any], str, str, dict[str, Any]], ...] = (
    ("/me", me, "GET", "The user the token belongs to", {}),
    (
        "/domains",
        domains,
        "GET",
        "Visible domains with totals and readiness, a page at a time",
        {
            "response_model": DomainList,
            "responses": {**_CSV, 404: {"description": "a cursor this list did not give out"}},
        },
    ),
    (
        "/domains/{domain}",
        domain_summary,
        "GET",
        "One domain: totals, breakdowns, readiness",
        {"responses": _NOT_FOUND},
    ),
    (
        "/domains/{domain}/daily",
        domain_daily,
        "GET",
        "Daily time series",
        {"responses": {**_NOT_FOUND, **_CSV}, "response_model": DailyList},
    ),
    ("/reports/{pk}", report, "GET", "One stored report, every field", {"responses": _NOT_FOUND}),
    (
        "/reports/{pk}/raw",
        report_raw,
        "GET",
        "The report's input exactly as received",
        {
            "description": "Only when every policy in the input is of the user's domains.",
            "responses": {**_NOT_FOUND, 200: {"content": {"application/octet-stream": {}}}},
        },
    ),
    (
        "/alerts",
        alert_list,
        "GET",
        "Alerts of visible domains, firing first",
        {"responses": _NOT_FOUND},
    ),
    (
        "/quarantine/budget",
        quarantine_budget,
        "GET",
        "Quarantine budget of the HTTP receiver, per client and UTC day (admin)",
        {"responses": _ADMIN},
    ),
    (
        "/quarantine/{raw_id}/retry",
        retry,
        "POST",
        "Run the pipeline again (admin)",
        {"responses": {**_ADMIN, 404: {"description": "no such raw input"}}},
    ),
)


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["api"], responses=_UNAUTHORIZED)
    for path, handler, method, summary, options in ROUTES:
        router.add_api_route(path, handler, methods=[method], summary=summary, **options)
    return router


def install(app: FastAPI) -> None:
    """Add the API to `app`, with its errors as problem details."""

    async def on_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        answer = problem(exc.status, exc.detail)
        answer.headers.update(exc.headers)
        return answer

    app.add_exception_handler(ApiProblem, on_problem)
    app.include_router(build_router())
