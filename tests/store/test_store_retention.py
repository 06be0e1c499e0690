"""Retention (`tlsrpt.store.retention`) on SQLite and PostgreSQL: 200 days
of generated reports through the ingest pipeline, pruned at 90 days."""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import Period
from tlsrpt.analysis.summary import summarize
from tlsrpt.channels import parse_channels
from tlsrpt.demo import demo_reports, load_demo
from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.ingest.pipeline import Prepared, StoredInputRemoved, ingest, ingest_batch
from tlsrpt.ingest.pipeline import ingest_prepared as write_prepared
from tlsrpt.report.serialize import to_json
from tlsrpt.retention import cutoffs
from tlsrpt.settings import Settings
from tlsrpt.store import outbox
from tlsrpt.store.alerts import active_mutes, apply_transitions, current_alerts
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.reads import overview, summary_rows
from tlsrpt.store.retention import KINDS, Cutoffs, prune
from tlsrpt.store.schema import (
    alert_events,
    alerts,
    daily_rollups,
    failure_details,
    policy_results,
    pruned_reports,
    raw_inputs,
    report_duplicates,
    reports,
    watch_snapshots,
)
from tlsrpt.store.schema import outbox as outbox_table
from tlsrpt.store.users import User
from tlsrpt.store.watch import SnapshotSummary, record_snapshot
from tlsrpt.store.window import Window
from tlsrpt.watch.lifecycle import plan

END = date(2026, 6, 30)  # the last day of the generated reports
DAYS = 200
NOW = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)  # when the prune runs
KEEP = 90
CUT = datetime(2026, 4, 2)  # NOW's UTC day - 90 days, midnight
ADMIN = User(0, "admin@example.com", True)
SHORT = {"watch_retention_days": 90, "alert_retention_days": 90}  # outbox: 30 by default


def _ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _rollups(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        query = sa.select(daily_rollups).order_by(*daily_rollups.primary_key.columns)
        return [tuple(row) for row in conn.execute(query)]


def _old_report(index: int = 0) -> bytes:
    """A generated report of the first day (pruned at 90 days)."""
    return to_json(demo_reports(END, DAYS)[index])


def _variant(body: bytes) -> bytes:
    """Another version of a report: same organization, report-id and start
    (so the same key), other content."""
    doc = orjson.loads(body)
    doc["contact-info"] = "mailto:other@example.net"
    return orjson.dumps(doc)


def _quarantine(store: Store, name: str, received: datetime) -> int:
    source = SourceInfo("file", f"/spool/{name}", received_at=received)
    (result,) = ingest_batch(store, [RawInput(b"{not a report " + name.encode(), source)])
    assert result.outcome == "quarantined"
    return result.raw_id


def _snapshots(store: Store) -> None:
    """a.example: three states, all old; b.example: an old and a recent
    one; c.example: one old state."""
    summary = SnapshotSummary(0, 0, None)
    history = [
        ("a.example", "1", 300),
        ("b.example", "1", 300),
        ("c.example", "1", 290),
        ("a.example", "2", 250),
        ("a.example", "3", 200),
        ("b.example", "2", 5),
    ]
    with store.write() as conn:
        for domain, digest, days in history:
            state = orjson.dumps({"state": digest}).decode()
            record_snapshot(
                conn, domain, state, digest * 64, summary, _ago(days), timedelta(days=7)
            )


def _evaluate(store: Store, domain: str, firing: bool, now: datetime) -> None:
    from tlsrpt.analysis.alert_model import Condition

    found = [Condition("mx-certificate-expired", "mx1", "error", "expired", "why", "renew", {})]
    with store.write() as conn:
        current = current_alerts(conn, [domain])[domain]
        mutes = active_mutes(conn, [domain], now).get(domain, {})
        steps = plan(current, found if firing else [], mutes, now, timedelta(hours=1))
        apply_transitions(conn, domain, steps, now)


def _alerts(store: Store) -> None:
    """old.example: resolved 200 days ago (goes); firing.example: firing
    since 300 days (stays); new.example: resolved 2 days ago (stays)."""
    for domain, start, end in (
        ("old.example", 201, 200),
        ("firing.example", 300, None),
        ("new.example", 3, 2),
    ):
        _evaluate(store, domain, True, _ago(start))
        if end is not None:
            _evaluate(store, domain, False, _ago(end))
            _evaluate(store, domain, False, _ago(end) + timedelta(hours=2))  # settled


def _outbox(store: Store) -> None:
    """Two notifications delivered 100 days ago (go), one pending since
    then and one failed (stay), one delivered yesterday (stays)."""
    channels = parse_channels(
        [{"type": "webhook", "name": "ops", "url": "http://127.0.0.1:9/", "secret": "k"}]
    )
    with store.write() as conn:
        for n in range(1, 5):
            alert = {"id": n, "domain": "old.example", "rule": "r"}
            outbox.enqueue(conn, "alert.firing", alert, channels, now=_ago(100))
    rows = outbox.claim(store, "me", _ago(100), timedelta(minutes=5), 10, ["ops"])
    outbox.mark_delivered(store, [rows[0].id, rows[1].id], _ago(100))
    outbox.mark_failed(store, [rows[3].id], "me", "HTTP 410")
    with store.write() as conn:
        alert = {"id": 9, "domain": "new.example", "rule": "r"}
        (recent,) = outbox.enqueue(conn, "alert.firing", alert, channels, now=_ago(1))
    outbox.claim(store, "me", _ago(1), timedelta(minutes=5), 10, ["ops"])
    outbox.mark_delivered(store, [recent], _ago(1))


def fill(store: Store) -> None:
    """200 days of generated reports and everything else retention touches."""
    load_demo(store, END, DAYS)
    ingest_batch(
        store,
        [
            # a later copy, as gzip, of an old report (a duplicate of it) ...
            RawInput(
                gzip.compress(_old_report(0)), SourceInfo("file", "/a.gz", received_at=_ago(150))
            ),
            # ... another version of an old one (a conflict) ...
            RawInput(
                _variant(_old_report(1)), SourceInfo("file", "/b.json", received_at=_ago(150))
            ),
            # ... and a copy of a recent report received yesterday
            RawInput(
                gzip.compress(to_json(demo_reports(END, DAYS)[-1])),
                SourceInfo("file", "/c.gz", received_at=_ago(1)),
            ),
        ],
    )
    for name, days in (("q200", 200), ("q120", 120), ("q60", 60), ("q10", 10)):
        _quarantine(store, name, _ago(days))
    _snapshots(store)
    _alerts(store)
    _outbox(store)


@pytest.fixture
def aged(store: Store) -> Store:
    fill(store)
    return store


def _limits(**settings: Any) -> Cutoffs:
    limits = cutoffs(Settings(**settings), NOW, KEEP)
    assert limits is not None and limits.reports == CUT
    return limits


@dataclass
class Contents:
    reports: dict[int, date]  # id -> day
    raws: dict[int, tuple[datetime, str]]  # id -> received, outcome
    refs: set[tuple[int, int]]  # (raw id, report id): stored from, or found again in
    failures: int  # failure rows of days from the cut-off on
    snapshots: dict[int, tuple[str, datetime]]
    alerts: dict[int, str]
    events: int
    outbox: dict[int, str]


def _select(conn: Connection, *columns: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sa.select(*columns))]


def contents(store: Store) -> Contents:
    r, w, d = reports.c, raw_inputs.c, report_duplicates.c
    s, a = watch_snapshots.c, alerts.c
    with store.read() as conn:
        return Contents(
            dict(_select(conn, r.id, r.day)),  # type: ignore[arg-type]
            {i: (t, o) for i, t, o in _select(conn, w.id, w.received_at, w.outcome)},
            set(_select(conn, r.raw_id, r.id)) | set(_select(conn, d.raw_id, d.report_pk)),  # type: ignore[arg-type]
            conn.execute(
                sa.select(sa.func.count()).where(failure_details.c.day >= CUT.date())
            ).scalar_one(),
            {i: (dom, t) for i, dom, t in _select(conn, s.id, s.domain, s.last_seen_at)},
            dict(_select(conn, a.id, a.domain)),  # type: ignore[arg-type]
            conn.execute(sa.select(sa.func.count()).select_from(alert_events)).scalar_one(),
            dict(_select(conn, outbox_table.c.id, outbox_table.c.state)),  # type: ignore[arg-type]
        )


def expected_after(before: Contents, limits: Cutoffs) -> tuple[set[int], set[int]]:
    """The report and raw input ids a prune at `limits` keeps, worked out
    from the rows before it."""
    assert limits.reports is not None and limits.quarantine is not None
    kept_reports = {i for i, day in before.reports.items() if day >= limits.reports.date()}
    kept_reports.add(max(before.reports))
    used = {raw for raw, report in before.refs if report in kept_reports}
    kept_raws = set()
    for i, (received, outcome) in before.raws.items():
        cut = limits.quarantine if outcome == "quarantined" else limits.reports
        if received >= cut or i in used or i == max(before.raws):
            kept_raws.add(i)
    return kept_reports, kept_raws


def test_prune_removes_old_rows_and_keeps_rollups(aged: Store) -> None:
    before = contents(aged)
    rollups = _rollups(aged)
    limits = _limits()
    kept_reports, kept_raws = expected_after(before, limits)
    assert 0 < len(kept_reports) < len(before.reports) and len(kept_raws) < len(before.raws)

    removed = prune(aged, limits)

    after = contents(aged)
    assert set(after.reports) == kept_reports
    assert set(after.raws) == kept_raws
    assert after.failures == before.failures  # every failure row from the cut-off on
    assert _rollups(aged) == rollups  # exactly
    assert removed["reports"] == len(before.reports) - len(kept_reports)
    assert removed["raw_inputs"] == len(before.raws) - len(kept_raws)
    assert removed["report_duplicates"] == 2  # of the two old reports sent again
    with aged.read() as conn:
        for table in (policy_results, failure_details):
            old = sa.select(sa.func.count()).where(table.c.day < CUT.date())
            assert conn.execute(old).scalar() == 0
        keys = conn.execute(sa.select(sa.func.count()).select_from(pruned_reports)).scalar()
    assert keys == removed["reports"]
    assert prune(aged, limits) == dict.fromkeys(KINDS, 0)  # nothing left to do


def _summary(store: Store) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`tlsrpt summary` over the whole period without the MX and IP
    breakdowns (failure details only), and the overview's analysis and
    verdict of every domain."""
    start = END - timedelta(days=DAYS - 1)
    with store.read() as conn:
        rows = summary_rows(conn, Window(None, start, END))
        domains = overview(conn, ADMIN, Period(start, END))
    summary = [
        {k: v for k, v in s.as_dict().items() if k not in ("top_mx_hosts", "top_sending_ips")}
        for s in summarize(rows.totals, rows.by_result, rows.mx_hosts, rows.sending_ips)
    ]
    views = {
        d.analysis.domain: (
            d.analysis.reports,
            d.analysis.successful_sessions,
            d.analysis.failed_sessions,
            d.analysis.daily,
            d.analysis.reporters,
            d.analysis.failures_by_result_type,
            d.analysis.failures_by_organization,
            d.readiness.verdict,
            [(r.check, r.passed) for r in d.readiness.reasons],
        )
        for d in domains
    }
    return summary, views


def test_summary_and_overview_unchanged_for_the_whole_period(aged: Store) -> None:
    summary, views = _summary(aged)
    assert any(s["failures_by_result_type"] for s in summary)
    assert {v[7] for v in views.values()} >= {"ready", "not-ready"}
    prune(aged, _limits())
    assert _summary(aged) == (summary, views)


def test_resend_of_a_pruned_report_is_a_duplicate(aged: Store) -> None:
    prune(aged, _limits())
    rollups = _rollups(aged)
    source = SourceInfo("http", "127.0.0.1")
    same = ingest(aged, _old_report(2), source)  # bytes pruned too: parsed again
    assert same.outcome == "duplicate" and same.reason_code == "same-report"
    assert same.report_ids == () and "removed by retention" in (same.reason or "")
    wrapped = ingest(aged, gzip.compress(_old_report(3)), source)
    assert wrapped.outcome == "duplicate"
    changed = ingest(aged, _variant(_old_report(4)), source)
    assert changed.outcome == "duplicate" and changed.conflict
    assert _rollups(aged) == rollups  # counted once
    new = ingest(aged, _old_report(5).replace(b"T00:00:00Z_", b"T00:00:00Z_other_"), source)
    assert new.outcome == "accepted"  # another report-id: a new report of an old day


def test_quarantined_inputs_have_their_own_limit(aged: Store) -> None:
    def quarantined() -> set[str]:
        with aged.read() as conn:
            query = sa.select(raw_inputs.c.source_detail).where(
                raw_inputs.c.outcome == "quarantined"
            )
            return {str(d).removeprefix("/spool/") for d in conn.scalars(query)}

    everything = quarantined()
    assert {"q200", "q120", "q60", "q10"} <= everything
    prune(aged, _limits(quarantine_retention_days=180))  # longer than the reports'
    assert everything - quarantined() == {"q200"}
    prune(aged, _limits(quarantine_retention_days=30))  # shorter
    assert everything - quarantined() == {"q200", "q120", "q60"}


def test_dry_run_counts_exactly_and_changes_nothing(aged: Store, take_snapshot: Any) -> None:
    limits = _limits(quarantine_retention_days=30, **SHORT)
    logical = take_snapshot(aged)
    before = contents(aged)
    counted = prune(aged, limits, dry_run=True)
    assert take_snapshot(aged) == logical and contents(aged) == before
    assert all(counted[kind] > 0 for kind in KINDS), counted
    assert prune(aged, limits, batch=7) == counted  # small batches: the same


def test_snapshots_alerts_and_outbox(aged: Store) -> None:
    before = contents(aged)
    removed = prune(aged, _limits(**SHORT))
    after = contents(aged)
    # Snapshots: old ones go, but each domain keeps its latest.
    domains = sorted(d for d, _ in after.snapshots.values())
    assert domains == ["a.example", "b.example", "c.example"]
    for domain in ("a.example", "b.example", "c.example"):
        mine = [i for i, (d, _) in before.snapshots.items() if d == domain]
        assert max(mine) in after.snapshots
    assert removed["snapshots"] == 3
    assert sorted(after.alerts.values()) == ["firing.example", "new.example"]
    assert removed["alerts"] == 1 and removed["alert_events"] == 2  # firing, resolved
    assert after.events == before.events - 2
    assert sorted(after.outbox.values()) == ["delivered", "failed", "pending"]
    assert removed["outbox"] == 2


def test_zero_keeps_snapshots_alerts_and_outbox(aged: Store) -> None:
    limits = _limits(watch_retention_days=0, alert_retention_days=0, outbox_retention_days=0)
    assert (limits.snapshots, limits.alerts, limits.outbox) == (None, None, None)
    removed = prune(aged, limits)
    assert (removed["snapshots"], removed["alerts"], removed["outbox"]) == (0, 0, 0)
    assert removed["reports"] > 0


def test_highest_ids_are_never_removed(store: Store) -> None:
    """The newest report and raw input hold ids the next ones are counted
    from: kept even when old, so no id is ever handed out twice."""
    load_demo(store, END, 30)
    late = ingest(store, _old_report(0), SourceInfo("file", "/late.json", received_at=_ago(300)))
    assert late.outcome == "accepted"
    (report_id,) = late.report_ids
    removed = prune(store, _limits())
    assert removed["reports"] == 0 and removed["raw_inputs"] == 0
    with store.read() as conn:
        top = conn.execute(sa.select(sa.func.max(reports.c.id))).scalar()
    assert top == report_id
    again = ingest(store, _old_report(1), SourceInfo("file", "/later.json"))
    assert again.report_ids[0] == report_id + 1
    assert prune(store, _limits())["reports"] == 1  # no longer the highest


def test_receiver_writing_during_a_prune_loses_nothing(aged: Store, db_url: str) -> None:
    """A receiver (a store of its own, as the HTTP receiver's child process
    has) ingests new reports all through a prune of small batches: each
    is stored and counted, and the prune removes what it would have."""
    limits = _limits()
    counted = prune(aged, limits, dry_run=True)
    rollups = _rollups(aged)
    receiver = open_store(db_url)
    done, results = threading.Event(), []
    failures: list[BaseException] = []

    def receive() -> None:
        try:
            n = 0
            while not done.is_set() or n < 20:
                day = END - timedelta(days=n % 30)
                body = to_json(demo_reports(day, 1)[0]).replace(b"_Google", f"_live{n}".encode())
                results.append(ingest(receiver, body, SourceInfo("http", "127.0.0.1")))
                n += 1
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    try:
        removed = prune(aged, limits, batch=25)
    finally:
        done.set()
        thread.join(120)
        receiver.close()
    assert not thread.is_alive() and not failures
    assert removed == counted
    assert len(results) >= 20 and {r.outcome for r in results} == {"accepted"}
    with aged.read() as conn:
        ids = {i for r in results for i in r.report_ids}
        live = reports.c.report_id.contains("_live", autoescape=True)
        stored = conn.execute(sa.select(sa.func.count()).where(live)).scalar()
    assert stored == len(ids) == len(results)
    total = sum(r[5] for r in _rollups(aged) if r[3] == r[4] == "")
    assert total == sum(r[5] for r in rollups if r[3] == r[4] == "") + len(results)


class _PruneAfterRead(Store):
    """A store on which a prune lands between an ingest's first read and
    its write transaction (the moment a real prune can interleave)."""

    limits: Cutoffs | None = None

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with super().read() as conn:
            yield conn
        limits, self.limits = self.limits, None
        if limits is not None:
            prune(self, limits)


def test_input_pruned_between_read_and_write_is_stored_anew(db_url: str) -> None:
    store = _PruneAfterRead(db_url)
    try:
        open_store(db_url).close()  # migrated
        quarantined = SourceInfo("file", "/old.bin", received_at=_ago(400))
        body = b"{not a report at all"
        (first,) = ingest_batch(store, [RawInput(body, quarantined)])
        ingest_batch(store, [RawInput(b"{newer", SourceInfo("file", "/new.bin"))])  # the top id
        store.limits = _limits()
        (again,) = ingest_batch(store, [RawInput(body, SourceInfo("file", "/again.bin"))])
        assert again.outcome == "quarantined" and again.raw_id != first.raw_id
        with store.read() as conn:
            details = list(conn.scalars(sa.select(raw_inputs.c.source_detail)))
        assert "/old.bin" not in details and "/again.bin" in details
        # Written directly, an input read as stored but gone is refused.
        with pytest.raises(StoredInputRemoved):
            write_prepared(store, [Prepared.stored(RawInput(b"gone", quarantined), "0" * 64)])
    finally:
        store.close()
