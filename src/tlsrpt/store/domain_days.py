"""The per-domain, per-day roll-up without the organization split
(`domain_days`, see `tlsrpt.store.schema`).

- `deltas(rollup_deltas)`: the increments of `domain_days` implied by those
  of `daily_rollups` (its levels "all types" and "one policy type", summed
  over organizations): the writer adds both in the same transaction;
- `rebuild(conn)`: `domain_days` computed again from `daily_rollups`, exact
  whatever the sums (migration 0013 fills the table with it).

A day's count never passes 2^63-1 in one row: `rebuild` continues a larger
sum (only a store written before ingest refused such counts holds one) in
rows of the next `part`, and every read sums the parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.schema import ALL, daily_rollups, domain_days

BIGINT_MAX = 2**63 - 1
DayKey = tuple[str, str, Any]  # policy type, domain, day
_BATCH = 5_000  # rows per insert of `rebuild`


def deltas(rollups: Mapping[Any, Sequence[int]]) -> dict[DayKey, list[int]]:
    """`rollups`: `daily_rollups` increments keyed by `RollupKey`. Only the
    rows of all result types count (the result-type rows hold failure
    details, not sessions of a report)."""
    out: dict[DayKey, list[int]] = {}
    for key, (reports, ok, failed) in rollups.items():
        if key.result_type != ALL:
            continue
        counts = out.get((key.policy_type, key.domain, key.day))
        if counts is None:
            out[key.policy_type, key.domain, key.day] = [reports, ok, failed]
        else:
            counts[0] += reports
            counts[1] += ok
            counts[2] += failed
    return out


def split(total: int) -> list[int]:
    """`total` as parts of at most 2^63-1, at least one."""
    parts = []
    while total > BIGINT_MAX:
        parts.append(BIGINT_MAX)
        total -= BIGINT_MAX
    return [*parts, total]


def _rows(key: DayKey, counts: list[int]) -> Iterator[tuple[Any, ...]]:
    columns = [split(n) for n in counts]
    for part in range(max(len(c) for c in columns)):
        yield (*key, part, *(c[part] if part < len(c) else 0 for c in columns))


def _summed(rows: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """daily_rollups rows (type, domain, day, counts...) in key order,
    summed per (type, domain, day) in Python integers, then split."""
    key: DayKey | None = None
    counts = [0, 0, 0]
    for ptype, domain, day, reports, ok, failed in rows:
        if (ptype, domain, day) != key:
            if key is not None:
                yield from _rows(key, counts)
            key, counts = (ptype, domain, day), [0, 0, 0]
        counts[0] += int(reports)
        counts[1] += int(ok)
        counts[2] += int(failed)
    if key is not None:
        yield from _rows(key, counts)


def rebuild(conn: Connection, domains: Sequence[str] | None = None) -> int:
    """Replace the `domain_days` rows of `domains` (default: every domain)
    with the sums of their `daily_rollups`; returns the rows written."""
    r, d = daily_rollups.c, domain_days
    erase = sa.delete(d)
    query = (
        sa.select(r.policy_type, r.domain, r.day, r.reports, r.successful_sessions)
        .add_columns(r.failed_sessions)
        .where(r.result_type == ALL)
        .order_by(r.domain, r.policy_type, r.day)  # the primary key's order
    )
    if domains is not None:
        erase = erase.where(d.c.domain.in_(domains))
        query = query.where(r.domain.in_(domains))
    conn.execute(erase)
    written, batch = 0, []
    columns = [c.name for c in d.columns]
    for row in _summed(conn.execute(query)):
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= _BATCH:
            conn.execute(sa.insert(d), batch)
            written, batch = written + len(batch), []
    if batch:
        conn.execute(sa.insert(d), batch)
    return written + len(batch)
