"""Retention: removing what is older than its limit, in short batches.

What goes, each kind before its own cut-off (`Cutoffs`):
- reports whose UTC day is before the reports' cut-off, with their policy
  results, failure details and later copies (`report_duplicates`);
- raw inputs received before that cut-off from which no stored report
  comes and in which none was found again; quarantined raw inputs received
  before the quarantine cut-off;
- watch snapshots last seen before theirs, never the latest of a domain
  (the state the next check is compared with);
- resolved alerts resolved before theirs, with their events;
- delivered outbox rows delivered before theirs.

What stays: `daily_rollups`, never touched here, so totals, trends, failure
types and verdicts over any period are what they were; and the
de-duplication key of every removed report (`pruned_reports`, about 150
bytes each), so a report sent again after its rows are gone is still a
duplicate, as RFC 8460 §5.3 asks: without it the resend would be stored as
new and counted a second time in the roll-ups that kept the first.

Batches: candidates are read in a read transaction (never blocking a
writer), in index order — (day, id), (received_at, id), ... — then
removed in a write transaction of their own (`Store.write()`: SQLite's
write lock, PostgreSQL's advisory lock, the same the ingest takes), at most
`batch` rows and about `BATCH_BYTES` of raw input each. Each removal checks
its conditions again inside its transaction, so what a receiver stored
meanwhile is never removed by mistake. A pause between batches lets
waiting writers in (SQLite's busy handler polls, it does not queue).

Ids: the highest id of a table is never removed. Reports and raw inputs
get MAX(id) + 1 as their next id, and SQLite gives new rows the highest
rowid + 1: removing the top row would hand its id out again, to a new row
that readers (the alert rules' marks, links, idempotency keys) would take
for the old one.

`dry_run` reads the same candidates and counts exactly what would go,
changing nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tlsrpt.store.engine import Store
from tlsrpt.store.schema import (
    alert_events,
    alerts,
    failure_details,
    outbox,
    policy_results,
    pruned_reports,
    raw_inputs,
    report_duplicates,
    reports,
    watch_snapshots,
)

BATCH = 1_000  # rows per transaction
BATCH_BYTES = 64 * 1024 * 1024  # raw input bytes per transaction
# What `prune` counts, in this order (`--json`'s "removed").
KINDS = (
    "raw_inputs",
    "reports",
    "policy_results",
    "failure_details",
    "report_duplicates",
    "snapshots",
    "alerts",
    "alert_events",
    "outbox",
)
_KEPT_OUTCOMES = ("accepted", "duplicate")  # raw inputs under the reports' cut-off


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Naive UTC instants: what is older goes; None keeps that kind."""

    reports: datetime | None  # reports of days before its day; raw inputs received before
    quarantine: datetime | None
    snapshots: datetime | None = None
    alerts: datetime | None = None
    outbox: datetime | None = None


def _among(conn: Connection, column: Any, ids: Sequence[int]) -> Any:
    """`column IN (ids)`; on PostgreSQL `= ANY(array)`: one parameter."""
    if conn.dialect.name == "postgresql":
        array = sa.bindparam(None, list(ids), type_=postgresql.ARRAY(sa.BigInteger))
        return column == sa.any_(array)
    return column.in_(ids)


def _top(column: Any) -> Any:
    return sa.select(sa.func.max(column)).scalar_subquery()


def _delete(conn: Connection, table: sa.Table, column: Any, ids: Sequence[int]) -> int:
    return int(conn.execute(sa.delete(table).where(_among(conn, column, ids))).rowcount)


def _count(conn: Connection, column: Any, ids: Sequence[int]) -> int:
    query = sa.select(sa.func.count()).where(_among(conn, column, ids))
    return int(conn.execute(query).scalar() or 0)


class _Phase:
    """One kind of row: its candidates in index order, and what removing a
    batch of them takes. Subclasses set `table`, `order` (ending in the
    id), `candidate` and `final` (the conditions checked again in the
    removing transaction), and `remove`/`tally`."""

    table: sa.Table
    order: tuple[Any, ...]
    size: Any = None  # a column bounding the bytes of a batch (BATCH_BYTES)

    def candidate(self) -> list[Any]:
        raise NotImplementedError

    def final(self, dry_run: bool) -> list[Any]:
        return self.candidate()

    def candidates(self, conn: Connection, after: tuple[Any, ...] | None, limit: int) -> list[Any]:
        columns = [*self.order, *([self.size] if self.size is not None else [])]
        query = sa.select(*columns).where(*self.candidate())
        if after is not None:
            bound = [sa.literal(v, type_=c.type) for v, c in zip(after, self.order, strict=True)]
            query = query.where(sa.tuple_(*self.order) > sa.tuple_(*bound))
        return list(conn.execute(query.order_by(*self.order).limit(limit)))

    def doomed(self, conn: Connection, ids: Sequence[int], dry_run: bool) -> list[int]:
        id_ = self.table.c.id
        query = sa.select(id_).where(_among(conn, id_, ids), *self.final(dry_run)).order_by(id_)
        return [int(i) for i in conn.scalars(query)]

    def remove(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        raise NotImplementedError

    def tally(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        raise NotImplementedError


class _Reports(_Phase):
    table = reports
    order = (reports.c.day, reports.c.id)

    def __init__(self, cutoff: datetime) -> None:
        self.day = cutoff.date()

    def candidate(self) -> list[Any]:
        return [reports.c.day < self.day]

    def final(self, dry_run: bool) -> list[Any]:
        return [reports.c.day < self.day, reports.c.id < _top(reports.c.id)]

    def remove(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        # The keys first: a resend after this transaction is a duplicate.
        keys = sa.select(reports.c.dedup_key, reports.c.content_sha256, reports.c.day).where(
            _among(conn, reports.c.id, ids)
        )
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(pruned_reports)
            .from_select(["dedup_key", "content_sha256", "day"], keys)
            .on_conflict_do_nothing()
        )
        return Counter(
            failure_details=_delete(conn, failure_details, failure_details.c.report_pk, ids),
            policy_results=_delete(conn, policy_results, policy_results.c.report_pk, ids),
            report_duplicates=_delete(conn, report_duplicates, report_duplicates.c.report_pk, ids),
            reports=_delete(conn, reports, reports.c.id, ids),
        )

    def tally(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(
            failure_details=_count(conn, failure_details.c.report_pk, ids),
            policy_results=_count(conn, policy_results.c.report_pk, ids),
            report_duplicates=_count(conn, report_duplicates.c.report_pk, ids),
            reports=len(ids),
        )

    def survives(self, report: Any) -> Any:
        """A report this prune keeps (for the dry run's raw inputs)."""
        return sa.or_(report.c.day >= self.day, report.c.id >= _top(reports.c.id))


class _RawInputs(_Phase):
    table = raw_inputs
    order = (raw_inputs.c.received_at, raw_inputs.c.id)
    size = raw_inputs.c.size

    def __init__(self, outcome: str, cutoff: datetime, kept: _Reports | None) -> None:
        self.outcome, self.cutoff, self.kept = outcome, cutoff, kept

    def candidate(self) -> list[Any]:
        r = raw_inputs.c
        return [r.outcome == self.outcome, r.received_at < self.cutoff]

    def final(self, dry_run: bool) -> list[Any]:
        r = raw_inputs.c
        report, copy = reports.alias("kept_report"), report_duplicates.alias("copy")
        stored = sa.select(report.c.id).where(report.c.raw_id == r.id)
        again = sa.select(copy.c.raw_id).where(copy.c.raw_id == r.id)
        if dry_run and self.kept is not None:  # as if this prune's reports were gone
            stored = stored.where(self.kept.survives(report))
            again = again.join(report, report.c.id == copy.c.report_pk).where(
                self.kept.survives(report)
            )
        return [
            *self.candidate(),
            r.id < _top(r.id),
            ~stored.exists(),
            ~again.exists(),
        ]

    def remove(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(raw_inputs=_delete(conn, raw_inputs, raw_inputs.c.id, ids))

    def tally(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(raw_inputs=len(ids))


class _Snapshots(_Phase):
    table = watch_snapshots
    order = (watch_snapshots.c.id,)

    def __init__(self, cutoff: datetime) -> None:
        self.cutoff = cutoff

    def candidate(self) -> list[Any]:
        s, newer = watch_snapshots.c, watch_snapshots.alias("newer")
        latest = sa.select(sa.func.max(newer.c.id)).where(newer.c.domain == s.domain)
        return [s.last_seen_at < self.cutoff, s.id < latest.scalar_subquery()]

    def remove(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(snapshots=_delete(conn, watch_snapshots, watch_snapshots.c.id, ids))

    def tally(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(snapshots=len(ids))


class _Alerts(_Phase):
    table = alerts
    order = (alerts.c.resolved_at, alerts.c.id)

    def __init__(self, cutoff: datetime) -> None:
        self.cutoff = cutoff

    def candidate(self) -> list[Any]:
        return [alerts.c.phase == "resolved", alerts.c.resolved_at < self.cutoff]

    def final(self, dry_run: bool) -> list[Any]:
        e = alert_events.c
        owns_top_event = sa.select(e.id).where(e.alert_id == alerts.c.id, e.id == _top(e.id))
        return [*self.candidate(), alerts.c.id < _top(alerts.c.id), ~owns_top_event.exists()]

    def remove(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(
            alert_events=_delete(conn, alert_events, alert_events.c.alert_id, ids),
            alerts=_delete(conn, alerts, alerts.c.id, ids),
        )

    def tally(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(alert_events=_count(conn, alert_events.c.alert_id, ids), alerts=len(ids))


class _Outbox(_Phase):
    table = outbox
    order = (outbox.c.id,)

    def __init__(self, cutoff: datetime) -> None:
        self.cutoff = cutoff

    def candidate(self) -> list[Any]:
        return [outbox.c.state == "delivered", outbox.c.delivered_at < self.cutoff]

    def final(self, dry_run: bool) -> list[Any]:
        return [*self.candidate(), outbox.c.id < _top(outbox.c.id)]

    def remove(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(outbox=_delete(conn, outbox, outbox.c.id, ids))

    def tally(self, conn: Connection, ids: Sequence[int]) -> Counter[str]:
        return Counter(outbox=len(ids))


def _phases(cutoffs: Cutoffs) -> list[_Phase]:
    """In the order they run: reports before the raw inputs they come from."""
    phases: list[_Phase] = []
    kept = None
    if cutoffs.reports is not None:
        kept = _Reports(cutoffs.reports)
        phases.append(kept)
        phases += [_RawInputs(o, cutoffs.reports, kept) for o in _KEPT_OUTCOMES]
    if cutoffs.quarantine is not None:
        # A quarantined input has no report rows: its own cut-off alone decides.
        phases.append(_RawInputs("quarantined", cutoffs.quarantine, None))
    if cutoffs.snapshots is not None:
        phases.append(_Snapshots(cutoffs.snapshots))
    if cutoffs.alerts is not None:
        phases.append(_Alerts(cutoffs.alerts))
    if cutoffs.outbox is not None:
        phases.append(_Outbox(cutoffs.outbox))
    return phases


def _within_bytes(rows: list[Any], width: int) -> list[Any]:
    """The first rows whose sizes (the column after the order) add up to at
    most BATCH_BYTES; at least one."""
    total = 0
    for index, row in enumerate(rows):
        total += int(row[width] or 0)
        if total > BATCH_BYTES and index:
            return rows[:index]
    return rows


@dataclass
class _Run:
    store: Store
    dry_run: bool
    batch: int
    pause: float
    stop: threading.Event | None

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def rest(self) -> None:
        if self.pause <= 0:
            return
        if self.stop is not None:
            self.stop.wait(self.pause)
        else:
            time.sleep(self.pause)

    def phase(self, phase: _Phase) -> Counter[str]:
        removed: Counter[str] = Counter()
        after = None
        width = len(phase.order)
        while not self.stopped():
            with self.store.read() as conn:
                rows = phase.candidates(conn, after, self.batch)
            if not rows:
                break
            taken = _within_bytes(rows, width) if phase.size is not None else rows
            after = tuple(taken[-1][:width])
            ids = [int(row[width - 1]) for row in taken]
            if self.dry_run:
                with self.store.read() as conn:
                    removed += phase.tally(conn, phase.doomed(conn, ids, True))
            else:
                with self.store.write() as conn:
                    doomed = phase.doomed(conn, ids, False)
                    removed += phase.remove(conn, doomed) if doomed else Counter()
                self.rest()
            if len(rows) < self.batch and len(taken) == len(rows):
                break
        return removed


def prune(
    store: Store,
    cutoffs: Cutoffs,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    pause: float = 0.0,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Remove (with `dry_run`, count) what is older than `cutoffs`, in
    transactions of at most `batch` rows, `pause` seconds apart; `stop`
    ends it between two batches. Returns the rows removed per kind
    (`KINDS`)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    run = _Run(store, dry_run, batch, pause, stop)
    removed: Counter[str] = Counter()
    for phase in _phases(cutoffs):
        removed += run.phase(phase)
    return {kind: removed.get(kind, 0) for kind in KINDS}
