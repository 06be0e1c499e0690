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
from tlsrpt.store.engine import Store
from tlsrpt.store.users import User, user_for_token
from tlsrpt.web.problems import problem
from tlsrpt.web.segments import decoded

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


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["api"], responses=_UNAUTHORIZED)

    def visible(store: Store, user: User, domain: str) -> None:
        with store.read() as conn:
            if not reads.is_visible(conn, user, domain):
                raise ApiProblem(404, f"no domain {domain!r} among yours")

    def detail(store: Store, user: User, domain: str, days: int, until: date | None) -> Any:
        with store.read() as conn:
            found = reads.domain_detail(conn, user, domain, reads.period_of(days, until))
        if found is None:
            raise ApiProblem(404, f"no domain {domain!r} among yours")
        return found

    @router.get("/me", summary="The user the token belongs to")
    def me(user: ApiUser) -> dict[str, Any]:
        return {"email": user.email, "admin": user.is_admin}

    @router.get(
        "/domains",
        summary="Visible domains with totals and readiness",
        response_model=DomainList,
        responses=_CSV,
    )
    def domains(
        request: Request,
        user: ApiUser,
        days: Days = reads.DEFAULT_DAYS,
        until: Until = None,
        format: Format = "json",
    ) -> Response:
        period = reads.period_of(days, until)
        with _store(request).read() as conn:
            found = reads.overview(conn, user, period)
        if format == "csv":
            return _csv([domain_row(o) for o in found], DOMAIN_COLUMNS, "domains")
        items = [domain_item(o) for o in found]
        return _json({"start": period.start, "end": period.end, "domains": items})

    @router.get(
        "/domains/{domain}",
        summary="One domain: totals, breakdowns, readiness",
        responses=_NOT_FOUND,
    )
    def domain_summary(
        request: Request,
        user: ApiUser,
        domain: DomainName,
        days: Days = reads.DEFAULT_DAYS,
        until: Until = None,
    ) -> Response:
        return _json(domain_detail_dict(detail(_store(request), user, domain, days, until)))

    @router.get(
        "/domains/{domain}/daily",
        summary="Daily time series",
        responses={**_NOT_FOUND, **_CSV},
        response_model=DailyList,
    )
    def domain_daily(
        request: Request,
        user: ApiUser,
        domain: DomainName,
        days: Days = reads.DEFAULT_DAYS,
        until: Until = None,
        format: Format = "json",
    ) -> Response:
        found = detail(_store(request), user, domain, days, until)
        rows = daily_rows(found.analysis)
        if format == "csv":
            return _csv(rows, DAILY_COLUMNS, f"{domain}-daily")
        return _json({"domain": domain, "daily": rows})

    def stored(request: Request, user: User, pk: int, *, raw: bool = False) -> Any:
        """The report as the user sees it; with `raw`, also its input's
        bytes, which a user gets only when every policy in them is theirs
        (otherwise the same 404 as a report that does not exist)."""
        with _store(request).read() as conn:
            found = reads.visible_report(conn, user, pk)
            if found is None or (raw and not found.raw_allowed):
                raise ApiProblem(404, f"no report {pk} among yours")
            return found, reads.raw_bytes(conn, found.stored.raw["id"]) if raw else b""

    @router.get("/reports/{pk}", summary="One stored report, every field", responses=_NOT_FOUND)
    def report(request: Request, user: ApiUser, pk: RowId) -> Response:
        found, _ = stored(request, user, pk)
        return _json(report_dict(found))

    @router.get(
        "/reports/{pk}/raw",
        summary="The report's input exactly as received",
        description="Only when every policy in the input is of the user's domains.",
        responses={**_NOT_FOUND, 200: {"content": {"application/octet-stream": {}}}},
    )
    def report_raw(request: Request, user: ApiUser, pk: RowId) -> Response:
        found, data = stored(request, user, pk, raw=True)
        extension = {"json": "json", "gzip": "json.gz", "email": "eml"}.get(
            found.stored.raw["kind"] or "", "bin"
        )
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="report-{pk}.{extension}"'},
        )

    @router.get("/alerts", summary="Alerts of visible domains, firing first", responses=_NOT_FOUND)
    def alert_list(
        request: Request,
        user: ApiUser,
        domain: Annotated[str | None, Query(max_length=253)] = None,
        include_resolved: Annotated[bool, Query(alias="all", description="resolved too")] = False,
        limit: Limit = 1000,
    ) -> Response:
        store = _store(request)
        if domain is not None:
            visible(store, user, domain)
        selection = AlertFilter(include_resolved, domain, limit)
        with store.read() as conn:
            return _json({"alerts": alerts_for_user(conn, user, selection)})

    @router.get(
        "/quarantine/budget",
        summary="Quarantine budget of the HTTP receiver, per client and UTC day (admin)",
        responses=_ADMIN,
    )
    def quarantine_budget(
        request: Request,
        _user: Annotated[User, Depends(_admin)],
        days: Annotated[int, Query(ge=1, le=366, description="UTC days, ending today")] = 1,
        limit: Limit = 1000,
    ) -> Response:
        since = datetime.now(UTC).date() - timedelta(days=days - 1)
        settings = request.app.state.settings
        with _store(request).read() as conn:
            totals, clients = budget.totals(conn, since), budget.usage(conn, since, limit)
        return _json(
            {
                "since": since.isoformat(),
                "per_client_per_day": {
                    "inputs": settings.http.quarantine_budget_inputs,
                    "bytes": settings.http.quarantine_budget_bytes,
                },
                "totals": totals,
                "clients": clients,
            }
        )

    @router.post(
        "/quarantine/{raw_id}/retry",
        summary="Run the pipeline again (admin)",
        responses={**_ADMIN, 404: {"description": "no such raw input"}},
    )
    def retry(request: Request, _user: Annotated[User, Depends(_admin)], raw_id: RowId) -> Response:
        try:
            (result,) = reprocess(_store(request), [raw_id])
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
