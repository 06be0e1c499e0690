"""Write-side statements of the ingest transaction, batched (executemany).

Every function takes the connection of a `Store.write()` transaction; the
caller decides what to write, these only write it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tlsrpt.store.schema import (
    daily_domains,
    daily_results,
    failure_details,
    policy_results,
    raw_inputs,
    report_duplicates,
    reports,
)

T = TypeVar("T")
_CHUNK = 500  # bound parameters per IN list, far below every backend's limit


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def find_raw(conn: Connection, shas: Sequence[str]) -> dict[str, sa.Row[Any]]:
    """Stored raw inputs with these SHA-256 digests."""
    found: dict[str, sa.Row[Any]] = {}
    cols = (raw_inputs.c.id, raw_inputs.c.sha256, raw_inputs.c.outcome, raw_inputs.c.reason)
    for chunk in _chunks(shas):
        for row in conn.execute(sa.select(*cols).where(raw_inputs.c.sha256.in_(chunk))):
            found[row.sha256] = row
    return found


def insert_raw(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    if not rows:
        return []
    stmt = raw_inputs.insert().returning(raw_inputs.c.id, sort_by_parameter_order=True)
    return [r.id for r in conn.execute(stmt, list(rows))]


def load_raw(conn: Connection, ids: Sequence[int]) -> list[sa.Row[Any]]:
    out: list[sa.Row[Any]] = []
    for chunk in _chunks(ids):
        out.extend(conn.execute(sa.select(raw_inputs).where(raw_inputs.c.id.in_(chunk))))
    return sorted(out, key=lambda r: r.id)


def set_outcomes(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """rows: {raw_id, outcome, kind, reason_code, reason, notes, processed_at}."""
    if not rows:
        return
    stmt = (
        raw_inputs.update()
        .where(raw_inputs.c.id == sa.bindparam("raw_id"))
        .values(
            outcome=sa.bindparam("outcome"),
            kind=sa.bindparam("kind"),
            reason_code=sa.bindparam("reason_code"),
            reason=sa.bindparam("reason"),
            notes=sa.bindparam("notes"),
            processed_at=sa.bindparam("processed_at"),
        )
    )
    conn.execute(stmt, list(rows))


def find_reports(conn: Connection, keys: Sequence[str]) -> dict[str, sa.Row[Any]]:
    """Stored reports by de-duplication key."""
    found: dict[str, sa.Row[Any]] = {}
    cols = (reports.c.id, reports.c.dedup_key, reports.c.content_sha256)
    for chunk in _chunks(keys):
        for row in conn.execute(sa.select(*cols).where(reports.c.dedup_key.in_(chunk))):
            found[row.dedup_key] = row
    return found


def report_ids_of_raw(conn: Connection, raw_ids: Sequence[int]) -> dict[int, list[int]]:
    """Reports stored from, or found again in, these raw inputs."""
    out: dict[int, list[int]] = {}
    for chunk in _chunks(raw_ids):
        stored = sa.select(reports.c.raw_id, reports.c.id).where(reports.c.raw_id.in_(chunk))
        again = sa.select(report_duplicates.c.raw_id, report_duplicates.c.report_pk).where(
            report_duplicates.c.raw_id.in_(chunk)
        )
        for raw_id, report_pk in conn.execute(stored.union_all(again)):
            out.setdefault(raw_id, []).append(report_pk)
    for ids in out.values():
        ids.sort()
    return out


def insert_reports(
    conn: Connection,
    report_rows: Sequence[Mapping[str, Any]],
    policy_rows: Sequence[Sequence[Mapping[str, Any]]],
    failure_rows: Sequence[Sequence[Mapping[str, Any]]],
) -> list[int]:
    """Insert reports and, per report, its policy and failure rows."""
    if not report_rows:
        return []
    stmt = reports.insert().returning(reports.c.id, sort_by_parameter_order=True)
    ids = [r.id for r in conn.execute(stmt, list(report_rows))]
    policies = [
        {**row, "report_pk": pk} for pk, rows in zip(ids, policy_rows, strict=True) for row in rows
    ]
    failures = [
        {**row, "report_pk": pk} for pk, rows in zip(ids, failure_rows, strict=True) for row in rows
    ]
    if policies:
        conn.execute(policy_results.insert(), policies)
    if failures:
        conn.execute(failure_details.insert(), failures)
    return ids


def insert_duplicates(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """rows: {raw_id, report_pk, conflict, content_sha256}."""
    if rows:
        conn.execute(report_duplicates.insert(), list(rows))


def _upsert(
    conn: Connection, table: sa.Table, keys: Iterable[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table)
    counts = ("reports", "successful_sessions", "failed_sessions")
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: table.c[c] + stmt.excluded[c] for c in counts},
    )
    conn.execute(stmt, rows)


def add_rollups(
    conn: Connection,
    domains: Mapping[tuple[str, date, str], Sequence[int]],
    results: Mapping[tuple[str, date, str, str, str], Sequence[int]],
) -> None:
    """Add report and session counts to the daily roll-ups. Keys are applied
    in sorted order so that concurrent writers could never deadlock."""
    domain_keys = ("domain", "day", "organization")
    result_keys = (*domain_keys, "policy_type", "result_type")
    _upsert(conn, daily_domains, domain_keys, _rollup_rows(domain_keys, domains))
    _upsert(conn, daily_results, result_keys, _rollup_rows(result_keys, results))


def _rollup_rows(
    names: Sequence[str], deltas: Mapping[tuple[Any, ...], Sequence[int]]
) -> list[dict[str, Any]]:
    return [
        {
            **dict(zip(names, key, strict=True)),
            "reports": n,
            "successful_sessions": ok,
            "failed_sessions": failed,
        }
        for key, (n, ok, failed) in sorted(deltas.items())
    ]
