"""Lists that grow without bound, a page at a time: stored reports (by
domain, reporting organization, period and result type), one domain's
failure details, and the quarantine. Each page is read by keyset (the
sort key of the last row shown, never an offset: the tenth page costs
what the first does) and names the next one by an opaque cursor. What the
API and the dashboard page through, so both show the same rows.

A list answers for one user: a report none of whose policies is of the
user's domains is never listed, and the rows are narrowed to the user's
domains like `report_reads.report_list` narrows them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import Period
from tlsrpt.store.domain_reads import FAILURE_COLUMNS
from tlsrpt.store.raw_reads import RAW_META
from tlsrpt.store.report_reads import REPORT_COLUMNS, add_domains
from tlsrpt.store.schema import (
    QUARANTINED,
    failure_details,
    policy_results,
    raw_inputs,
    reports,
)
from tlsrpt.store.sums import as_dict
from tlsrpt.store.users import User, can_see, visible_domains


class CursorError(ValueError):
    """A cursor this list did not give (altered, or another list's)."""


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None  # None: this is the last page


@dataclass(frozen=True, slots=True)
class ReportFilter:
    domain: str | None = None
    organization: str | None = None
    since: date | None = None  # first UTC day (of the report's period)
    until: date | None = None  # last UTC day
    result_type: str | None = None  # with at least one failure of this type


def encode_cursor(kind: str, key: Sequence[int | str]) -> str:
    """An opaque cursor: the list it belongs to and the last row's sort key."""
    return base64.urlsafe_b64encode(orjson.dumps([kind, *key])).decode().rstrip("=")


def decode_cursor(kind: str, text: str, shape: Sequence[type]) -> tuple[Any, ...]:
    """The sort key in a cursor of list `kind`, its values of types `shape`."""
    try:
        value = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise CursorError("the cursor is not one this list gave") from None
    if (
        not isinstance(value, list)
        or len(value) != len(shape) + 1
        or value[0] != kind
        or not all(type(v) is t for v, t in zip(value[1:], shape, strict=True))
    ):
        raise CursorError("the cursor is not one this list gave")
    return tuple(value[1:])


def _page(rows: list[dict[str, Any]], limit: int, kind: str, key: Any) -> Page:
    """The first `limit` rows; a cursor after the last when one more was read."""
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(kind, key(rows[-1])))


def report_page(
    conn: Connection, user: User, where: ReportFilter, limit: int, cursor: str | None = None
) -> Page:
    """Reports matching `where`, newest stored first (by key). For a user
    who is not an admin, only reports covering their domains, each with
    its session totals over their domains' policies only."""
    if where.domain is not None and not can_see(conn, user, where.domain):
        return Page([], None)
    every = user.is_admin and where.domain is None
    names = [] if every else [where.domain] if where.domain else visible_domains(conn, user)
    p, f = policy_results, failure_details
    covering: list[sa.ColumnElement[bool]] = [] if every else [p.c.domain.in_(names)]
    covering += [p.c.day >= where.since] if where.since else []
    covering += [p.c.day <= where.until] if where.until else []
    query = sa.select(*(reports.c[name] for name in REPORT_COLUMNS))
    if covering:
        query = query.where(reports.c.id.in_(sa.select(p.c.report_pk).where(*covering)))
    if where.organization is not None:
        query = query.where(reports.c.organization == where.organization)
    if where.result_type is not None:
        typed = [f.c.result_type == where.result_type, *([] if every else [f.c.domain.in_(names)])]
        query = query.where(reports.c.id.in_(sa.select(f.c.report_pk).where(*typed)))
    if cursor is not None:
        (after,) = decode_cursor("reports", cursor, (int,))
        query = query.where(reports.c.id < after)
    query = query.order_by(reports.c.id.desc()).limit(limit + 1)
    rows = [dict(zip(REPORT_COLUMNS, row, strict=True)) for row in conn.execute(query)]
    found = _page(rows, limit, "reports", lambda row: (row["id"],))
    if not user.is_admin and where.domain is not None:
        names = visible_domains(conn, user)  # totals over all of theirs, not only `domain`
    add_domains(conn, found.rows, None if user.is_admin else set(names))
    return found


def report_list(
    conn: Connection, user: User, domain: str | None, period: Period, limit: int
) -> list[dict[str, Any]]:
    """The first `limit` reports covering `domain` (or any visible domain)
    in the period (`tlsrpt export`)."""
    where = ReportFilter(domain, since=period.start, until=period.end)
    return report_page(conn, user, where, limit).rows


_FAILURE_KEY = (failure_details.c.policy_ordinal, failure_details.c.ordinal)


def failure_page(
    conn: Connection,
    domain: str,
    since: date,
    until: date,
    limit: int,
    cursor: str | None = None,
    result_type: str | None = None,
) -> Page:
    """The domain's failure details from `since` to `until`, newest day
    first, then newest report, then in report order. The caller checks the
    user may see `domain`."""
    f, r = failure_details, reports
    query = (
        sa.select(*_failure_columns(), *_FAILURE_KEY)
        .join(r, r.c.id == f.c.report_pk)
        .where(f.c.domain == domain, f.c.day >= since, f.c.day <= until)
    )
    if result_type is not None:
        query = query.where(f.c.result_type == result_type)
    if cursor is not None:
        day, pk, policy, ordinal = decode_cursor("failures", cursor, (str, int, int, int))
        query = query.where(_after_failure(_iso_day(day), pk, policy, ordinal))
    query = query.order_by(f.c.day.desc(), f.c.report_pk.desc(), *_FAILURE_KEY).limit(limit + 1)
    names = (*FAILURE_COLUMNS, "_policy", "_ordinal")
    rows = [dict(zip(names, row, strict=True)) for row in conn.execute(query)]
    found = _page(
        rows,
        limit,
        "failures",
        lambda x: (x["day"].isoformat(), x["report"], x["_policy"], x["_ordinal"]),
    )
    for shown in found.rows:
        del shown["_policy"], shown["_ordinal"]
    return found


def failure_list(conn: Connection, domain: str, period: Period, limit: int) -> list[dict[str, Any]]:
    """The first `limit` of the domain's failure details in the period (the CSV exports)."""
    return failure_page(conn, domain, period.start, period.end, limit).rows


def _failure_columns() -> list[Any]:
    f, r = failure_details, reports
    named = {"report": f.c.report_pk, "organization": r.c.organization, "report_id": r.c.report_id}
    return [named[name] if name in named else f.c[name] for name in FAILURE_COLUMNS]


def _iso_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CursorError("the cursor is not one this list gave") from None


def _after_failure(day: date, pk: int, policy: int, ordinal: int) -> sa.ColumnElement[bool]:
    """Rows after (day, report, policy, ordinal) in the list's order: days
    and reports descending, the ordinals ascending."""
    f = failure_details
    same_day, same_report = f.c.day == day, f.c.report_pk == pk
    return sa.or_(
        f.c.day < day,
        sa.and_(same_day, f.c.report_pk < pk),
        sa.and_(same_day, same_report, f.c.policy_ordinal > policy),
        sa.and_(same_day, same_report, f.c.policy_ordinal == policy, f.c.ordinal > ordinal),
    )


def quarantine_page(conn: Connection, limit: int, cursor: str | None = None) -> Page:
    """Quarantined inputs, oldest first (what `tlsrpt quarantine` lists)."""
    query = sa.select(*RAW_META).where(raw_inputs.c.outcome == QUARANTINED)
    if cursor is not None:
        (after,) = decode_cursor("quarantine", cursor, (int,))
        query = query.where(raw_inputs.c.id > after)
    query = query.order_by(raw_inputs.c.id).limit(limit + 1)
    rows = [as_dict(row) for row in conn.execute(query)]
    return _page(rows, limit, "quarantine", lambda row: (row["id"],))
