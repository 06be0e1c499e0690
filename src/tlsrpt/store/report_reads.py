"""The report reads: stored reports listed and shown, with the raw input
they came from. `list_reports` is what `tlsrpt reports` lists (a window,
every report); `visible_report` answers for one user (the API, the
dashboard, `tlsrpt export`; their lists are in `list_reads`): a report none of whose
policies is of the user's domains is absent, and the rest is narrowed to
what the user may see (`tlsrpt.store.report_view`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.provenance import raw_coverage
from tlsrpt.store.raw_reads import RAW_META
from tlsrpt.store.report_view import ReportView, StoredReport, narrow, whole
from tlsrpt.store.schema import (
    failure_details,
    policy_results,
    raw_inputs,
    report_duplicates,
    reports,
    watch_snapshots,
)
from tlsrpt.store.sums import as_dict
from tlsrpt.store.users import User, visible_domains
from tlsrpt.store.window import Window


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
    raw = conn.execute(sa.select(*RAW_META).where(raw_inputs.c.id == row.raw_id)).one()
    return StoredReport(
        report=as_dict(row),
        policies=[as_dict(r) for r in policies],
        failures=[as_dict(r) for r in failures],
        raw=as_dict(raw),
        duplicates=[as_dict(r) for r in duplicates],
    )


def has_reports(conn: Connection) -> bool:
    """Whether any report is stored."""
    return conn.execute(sa.select(reports.c.id).limit(1)).first() is not None


def last_report_pk(conn: Connection) -> int:
    """The highest report key (0 when none): changes whenever a report is stored."""
    return int(conn.scalar(sa.select(sa.func.max(reports.c.id))) or 0)


def last_snapshot_pk(conn: Connection) -> int:
    """The highest watch snapshot key (0 when none): changes whenever a check
    stores a new state of a domain."""
    return int(conn.scalar(sa.select(sa.func.max(watch_snapshots.c.id))) or 0)


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
    rows = [as_dict(row) for row in conn.execute(query)]
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


REPORT_COLUMNS = (
    "id",
    "day",
    "organization",
    "report_id",
    "start_at",
    "end_at",
    "successful_sessions",
    "failed_sessions",
)


_ID_CHUNK = 500  # bound parameters per IN list


def add_domains(conn: Connection, rows: list[dict[str, Any]], names: set[str] | None) -> None:
    """Set each row's `domains`; with `names` (a user who is not an admin),
    only those, and the session totals over the policies of those only."""
    p = policy_results
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row["domains"] = []
        if names is not None:
            row["successful_sessions"] = row["failed_sessions"] = 0
    ids = sorted(by_id)
    for chunk in (ids[i : i + _ID_CHUNK] for i in range(0, len(ids), _ID_CHUNK)):
        query = sa.select(p.c.report_pk, p.c.domain, p.c.successful_sessions, p.c.failed_sessions)
        query = query.where(p.c.report_pk.in_(chunk)).order_by(p.c.report_pk, p.c.ordinal)
        for pk, name, ok, failed in conn.execute(query):
            if names is not None and name not in names:
                continue
            row = by_id[pk]
            if name not in row["domains"]:
                row["domains"].append(name)
            if names is not None:  # a subset of the stored totals: no overflow
                row["successful_sessions"] += int(ok)
                row["failed_sessions"] += int(failed)


def visible_report(conn: Connection, user: User, pk: int) -> ReportView | None:
    """The report as the user may see it (`report_view`), or None when it
    does not exist or none of its policies is of the user's domains."""
    stored = get_report(conn, pk)
    if stored is None or user.is_admin:
        return None if stored is None else whole(stored)
    names = set(visible_domains(conn, user))
    if not any(policy["domain"] in names for policy in stored.policies):
        return None
    raws = [stored.raw["id"], *(d["raw_id"] for d in stored.duplicates)]
    allowed = {
        raw_id
        for raw_id, covered in raw_coverage(conn, raws).items()
        if covered.complete and covered.domains <= names
    }
    return narrow(stored, names, allowed)
