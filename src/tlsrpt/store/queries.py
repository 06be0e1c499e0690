"""Read-side queries. Per-domain, per-day questions are answered from the
daily roll-ups and the (domain, day) indexes; nothing here scans a table."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.schema import (
    ALL,
    EMPTY,
    QUARANTINED,
    daily_rollups,
    failure_details,
    policy_results,
    raw_inputs,
    report_duplicates,
    reports,
)
from tlsrpt.store.window import Window


@dataclass(frozen=True, slots=True)
class SummaryRows:
    """Aggregates per domain, as `tlsrpt.analysis.summary` takes them."""

    totals: list[tuple[Any, ...]]  # domain, reports, organizations, successful, failed
    by_result: list[tuple[Any, ...]]  # domain, result type, failed sessions
    mx_hosts: list[tuple[Any, ...]]  # domain, receiving MX hostname, failed sessions
    sending_ips: list[tuple[Any, ...]]  # domain, sending MTA IP, failed sessions


# Session counts are summed exactly on every database (RFC 8460 §4.4 counts,
# up to 2^63-1 in a 64-bit roll-up row: 2^23 reports at the bound of
# `tlsrpt.report.Limits.max_sessions`). A query runs with plain SUM()
# first: exact on PostgreSQL (numeric), and on SQLite as long as the sum
# fits 64 bits. Past that SQLite refuses it ("integer overflow"; TOTAL()
# would be a float): the query runs again with each count summed as its
# high and its low 32 bits, two sums that stay below 2^63 for up to 2^31
# rows, joined in Python. (Splitting every time cost 12 % of the CPU time
# of the overview's aggregate queries on SQLite, 20 % with the joins,
# measured: only a store holding such sums pays for them.)
_HALF = 32
_HIGH, _LOW = "_exact_sum_high_", "_exact_sum_low_"
SumOf = Callable[[sa.ColumnElement[Any]], tuple[sa.ColumnElement[Any], ...]]


def _plain_sum(column: sa.ColumnElement[Any]) -> tuple[sa.ColumnElement[Any], ...]:
    return (sa.func.sum(column),)


def summed(conn: Connection, query: Callable[[SumOf], sa.Select[Any]]) -> list[Sequence[Any]]:
    """The rows of `query(sum_of)`, where `sum_of(column)` stands for
    SUM(column) among the selected columns: an exact integer (a Decimal on
    PostgreSQL) in each row, whatever the sum."""
    try:
        return list(conn.execute(query(_plain_sum)).all())
    except sa.exc.OperationalError as exc:
        if "integer overflow" not in str(exc.orig):
            raise
    pairs = itertools.count()

    def split_sum(column: sa.ColumnElement[Any]) -> tuple[sa.ColumnElement[Any], ...]:
        n = next(pairs)
        high = sa.func.sum(column.op(">>")(sa.literal_column(str(_HALF)))).label(f"{_HIGH}{n}")
        low = sa.func.sum(column.op("&")(sa.literal_column(str(2**_HALF - 1))))
        return high, low.label(f"{_LOW}{n}")

    result = conn.execute(query(split_sum))
    highs = [i for i, key in enumerate(result.keys()) if key.startswith(_HIGH)][::-1]
    rows: list[Sequence[Any]] = []
    for row in result:
        values = list(row)
        for i in highs:
            values[i : i + 2] = [(int(values[i] or 0) << _HALF) + int(values[i + 1] or 0)]
        rows.append(values)
    return rows


def _dict(row: sa.Row[Any]) -> dict[str, Any]:
    """A row as a plain dict (str keys: column names are a str subclass)."""
    return {str(key): value for key, value in row._mapping.items()}


def summary_rows(conn: Connection, window: Window) -> SummaryRows:
    """Index range scans only: the all-types roll-up rows (reports, sessions,
    organizations), the result-type ones (failed sessions per type: kept by
    retention like the totals), then the covering index of failure details
    per MX host and per sending IP."""
    r, f = daily_rollups, failure_details

    def totals(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(
                r.c.domain,
                sa.func.sum(r.c.reports),
                sa.func.count(sa.distinct(r.c.organization)),
                *total(r.c.successful_sessions),
                *total(r.c.failed_sessions),
            )
            .where(r.c.policy_type == ALL, r.c.result_type == ALL, *window.where(r))
            .group_by(r.c.domain)
        )

    def failed_by(column: sa.Column[Any]) -> list[tuple[Any, ...]]:
        def query(total: SumOf) -> sa.Select[Any]:
            return (
                sa.select(f.c.domain, column, *total(f.c.failed_session_count))
                .where(column.is_not(None), *window.where(f))
                .group_by(f.c.domain, column)
            )

        return [(domain, key, int(n)) for domain, key, n in summed(conn, query)]

    def by_result(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(r.c.domain, r.c.result_type, *total(r.c.failed_sessions))
            .where(r.c.policy_type != ALL, r.c.result_type != ALL, *window.where(r))
            .group_by(r.c.domain, r.c.result_type)
        )
    return SummaryRows(
        totals=[tuple(row) for row in summed(conn, totals)],
        by_result=[(d, key or EMPTY, int(n)) for d, key, n in summed(conn, by_result)],
        mx_hosts=failed_by(f.c.receiving_mx_hostname),
        sending_ips=failed_by(f.c.sending_mta_ip),
    )


def list_reports(conn: Connection, window: Window, limit: int) -> list[dict[str, Any]]:
    """Most recently stored first, with the domains each report covers."""
    query = sa.select(
        reports.c.id,
        reports.c.day,
        reports.c.organization,
        reports.c.report_id,
        reports.c.start_at,
        reports.c.end_at,
        reports.c.successful_sessions,
        reports.c.failed_sessions,
    )
    if window.domain is not None:
        p = policy_results
        covering = sa.select(p.c.report_pk).where(*window.where(p))
        query = query.where(reports.c.id.in_(covering))
    if window.since is not None:
        query = query.where(reports.c.day >= window.since)
    if window.until is not None:
        query = query.where(reports.c.day <= window.until)
    query = query.order_by(reports.c.id.desc()).limit(limit)
    rows = [_dict(row) for row in conn.execute(query)]
    domains = _domains_of(conn, [row["id"] for row in rows])
    for row in rows:
        row["domains"] = domains.get(row["id"], [])
    return rows


def _domains_of(conn: Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    p = policy_results
    query = (
        sa.select(p.c.report_pk, p.c.domain)
        .where(p.c.report_pk.in_(ids))
        .order_by(p.c.report_pk, p.c.ordinal)
    )
    out: dict[int, list[str]] = {}
    for pk, domain in conn.execute(query):
        names = out.setdefault(pk, [])
        if domain not in names:
            names.append(domain)
    return out


@dataclass(frozen=True, slots=True)
class StoredReport:
    report: dict[str, Any]
    policies: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    raw: dict[str, Any]
    duplicates: list[dict[str, Any]]


_RAW_META = (
    raw_inputs.c.id,
    raw_inputs.c.sha256,
    raw_inputs.c.size,
    raw_inputs.c.kind,
    raw_inputs.c.source_kind,
    raw_inputs.c.source_detail,
    raw_inputs.c.content_type,
    raw_inputs.c.source_meta,
    raw_inputs.c.received_at,
    raw_inputs.c.processed_at,
    raw_inputs.c.outcome,
    raw_inputs.c.reason_code,
    raw_inputs.c.reason,
    raw_inputs.c.notes,
)


def get_report(conn: Connection, pk: int) -> StoredReport | None:
    row = conn.execute(sa.select(reports).where(reports.c.id == pk)).first()
    if row is None:
        return None
    p, f, dup = policy_results, failure_details, report_duplicates
    policies = conn.execute(sa.select(p).where(p.c.report_pk == pk).order_by(p.c.ordinal))
    failures = conn.execute(
        sa.select(f).where(f.c.report_pk == pk).order_by(f.c.policy_ordinal, f.c.ordinal)
    )
    duplicates = conn.execute(
        sa.select(
            dup.c.raw_id,
            dup.c.conflict,
            raw_inputs.c.source_kind,
            raw_inputs.c.source_detail,
            raw_inputs.c.received_at,
        )
        .join(raw_inputs, raw_inputs.c.id == dup.c.raw_id)
        .where(dup.c.report_pk == pk)
        .order_by(dup.c.raw_id)
    )
    raw = conn.execute(sa.select(*_RAW_META).where(raw_inputs.c.id == row.raw_id)).one()
    return StoredReport(
        report=_dict(row),
        policies=[_dict(r) for r in policies],
        failures=[_dict(r) for r in failures],
        raw=_dict(raw),
        duplicates=[_dict(r) for r in duplicates],
    )


def list_quarantined(conn: Connection, limit: int | None = None) -> list[dict[str, Any]]:
    query = (
        sa.select(*_RAW_META)
        .where(raw_inputs.c.outcome == QUARANTINED)
        .order_by(raw_inputs.c.id)
        .limit(limit)
    )
    return [_dict(row) for row in conn.execute(query)]


def quarantined_ids(conn: Connection) -> list[int]:
    query = sa.select(raw_inputs.c.id).where(raw_inputs.c.outcome == QUARANTINED)
    return list(conn.scalars(query.order_by(raw_inputs.c.id)))


def get_raw(conn: Connection, raw_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(*_RAW_META, raw_inputs.c.codec, raw_inputs.c.data).where(
            raw_inputs.c.id == raw_id
        )
    ).first()
    return _dict(row) if row is not None else None
