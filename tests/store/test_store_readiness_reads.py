"""The readiness reads on SQLite and PostgreSQL: the same verdict as the pure
`domain_verdict` over the stored roll-up rows, for many domains at once as
for one, as of any day, with the watcher's snapshots joined in, and index
range scans only."""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tlsrpt.analysis.period import RollupRow
from tlsrpt.analysis.readiness import LastFailure, Verdict, domain_verdict
from tlsrpt.demo import DEMO_DOMAINS, load_demo
from tlsrpt.store.engine import Store
from tlsrpt.store.readiness_reads import (
    domain_inputs,
    domain_readiness,
    last_blocking_failures,
    readiness,
    reported_policies,
    sts_report_days,
    watch_states,
)
from tlsrpt.store.schema import daily_rollups
from tlsrpt.store.watch import SnapshotSummary, record_snapshot
from tlsrpt.watch.snapshot import canonical, digest

END = date(2026, 11, 28)
DAYS = 60
FIXED = END - timedelta(days=24)  # mail.example.org's stray MX is fixed then (demo)


def _snapshot(mx: list[str], patterns: list[str], sts_id: str) -> dict[str, Any]:
    return {
        "tlsrpt": {"records": [], "status": "nxdomain"},
        "sts": {"records": [f"v=STSv1; id={sts_id}"], "status": "ok", "id": sts_id},
        "policy": {
            "url": "https://mta-sts.mail.example.org/.well-known/mta-sts.txt",
            "status": 200,
            "error": None,
            "text": None,
            "mode": "testing",
            "mx": patterns,
            "max_age": 604800,
            "certificate": None,
        },
        "mx": [
            {
                "host": h,
                "preference": 10,
                "addresses": [],
                "tls": None,
                "tlsa": [],
                "tlsa_status": None,
            }
            for h in mx
        ],
        "findings": [],
    }


def _record(store: Store, domain: str, snap: dict[str, Any], at: dt.datetime) -> None:
    with store.write() as conn:
        record_snapshot(
            conn,
            domain,
            canonical(snap).decode(),
            digest(snap),
            SnapshotSummary(0, 0, None),
            at,
            dt.timedelta(days=7),
        )


@pytest.fixture
def demo(store: Store) -> Store:
    load_demo(store, END, DAYS)
    return store


def _rollups(conn: Any, domain: str) -> list[RollupRow]:
    rows = conn.execute(sa.select(daily_rollups).where(daily_rollups.c.domain == domain))
    return [RollupRow(*row) for row in rows]


def test_last_blocking_failures_over_all_history(demo: Store) -> None:
    with demo.read() as conn:
        found = last_blocking_failures(conn, list(DEMO_DOMAINS), END)
        earlier = last_blocking_failures(conn, ["mail.example.org"], FIXED - timedelta(days=10))
        days = sts_report_days(conn, list(DEMO_DOMAINS), END)
        reported = reported_policies(conn, [(d, last) for d, (_, last) in days.items()])
    assert set(found) == {"shop.example.net", "mail.example.org"}
    shop = found["shop.example.net"]
    assert shop.day == END and "certificate-expired" in shop.result_types
    assert "mx2.shop.example.net" in shop.mx_hosts
    assert found["mail.example.org"] == LastFailure(
        FIXED - timedelta(days=1), ("validation-failure",), ("mx-backup.hosting.example",)
    )
    assert earlier["mail.example.org"].day == FIXED - timedelta(days=10)  # as of that day
    assert days["example.com"] == (END - timedelta(days=DAYS - 1), END)
    assert "legacy.example.de" not in days  # DANE only: no sts report
    assert reported["example.com"].mx == ("mx1.example.com", "mx2.example.com")
    assert reported["example.com"].max_age == 604800


@pytest.mark.parametrize("today", [END, END - timedelta(days=20), END + timedelta(days=2)])
def test_the_store_verdict_is_the_pure_verdict_over_the_stored_rows(
    demo: Store, today: date
) -> None:
    with demo.read() as conn:
        many = readiness(conn, list(DEMO_DOMAINS), today)
        failures = last_blocking_failures(conn, list(DEMO_DOMAINS), today)
        days = sts_report_days(conn, list(DEMO_DOMAINS), today)
        reported = reported_policies(conn, [(d, last) for d, (_, last) in days.items()])
        for domain in DEMO_DOMAINS:
            one = domain_readiness(conn, domain, today)
            pure = domain_verdict(
                domain,
                _rollups(conn, domain),
                # the MX hosts of the failure details; the day is found in the rows too
                failures.get(domain),
                None,
                None,
                today,
                reported=reported.get(domain),
            )
            assert one == many[domain] == pure, domain
            assert domain_inputs(conn, domain, today).verdict() == one, domain
    verdicts = {d: str(r.verdict) for d, r in many.items()}
    if today == END:
        assert verdicts == {
            "example.com": "ready",
            "shop.example.net": "not-ready",
            "mail.example.org": "ready",
            "new.example.io": "insufficient-data",
            "legacy.example.de": "insufficient-data",
        }
        assert many["mail.example.org"].clean_since == FIXED


def test_snapshots_join_the_verdict(demo: Store) -> None:
    first = dt.datetime.combine(END - timedelta(days=40), dt.time(6), dt.UTC)
    two = ["mx1.mail.example.org", "mx2.mail.example.org"]
    _record(demo, "mail.example.org", _snapshot(two, two, "1"), first)
    added = [*two, "mx3.mail.example.org"]
    changed = dt.datetime.combine(END - timedelta(days=6), dt.time(6), dt.UTC)
    _record(demo, "mail.example.org", _snapshot(added, two, "1"), changed)
    latest = dt.datetime.combine(END, dt.time(9), dt.UTC)
    _record(demo, "mail.example.org", _snapshot(added, two, "1"), latest)  # seen again
    with demo.read() as conn:
        states = watch_states(conn, ["mail.example.org", "example.com"], END)
        r = domain_readiness(conn, "mail.example.org", END)
        before = domain_readiness(conn, "mail.example.org", END - timedelta(days=12))
        inputs = domain_inputs(conn, "mail.example.org", END)
    state = states["mail.example.org"]
    assert "example.com" not in states
    assert state.check is not None and state.check.checked_at == latest
    assert state.change is not None and state.change.day == changed.date()
    assert state.change.summary == "MX mx3.mail.example.org added"
    assert r.verdict == Verdict.NOT_READY
    assert inputs.check == state.check and inputs.last_change == state.change
    assert inputs.verdict() == r
    reasons = {x.check: x for x in r.reasons}
    assert reasons["mx-coverage"].value == ["mx3.mail.example.org"]
    assert reasons["policy-change"].value == changed.date().isoformat()
    assert r.clean_since == changed.date()
    assert r.enforce_policy is not None and r.enforce_policy.source == "snapshot"
    assert r.enforce_policy.mx == tuple(added)
    # As of twelve days earlier: the change and the uncovered MX had not happened.
    assert before.clean_since == FIXED and before.verdict == Verdict.NOT_READY  # 14 days needed
    assert {x.check for x in before.problems} == {"clean-since", "blocking-failures"}


def test_only_index_ranges_on_sqlite(demo: Store) -> None:
    if not demo.is_sqlite:
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    two = ["mx1.example.com", "mx2.example.com"]
    _record(demo, "example.com", _snapshot(two, two, "1"), dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    sa.event.listen(demo.engine, "before_cursor_execute", keep)
    try:
        with demo.read() as conn:
            readiness(conn, list(DEMO_DOMAINS), END)
    finally:
        sa.event.remove(demo.engine, "before_cursor_execute", keep)
    assert len(statements) >= 6
    with demo.engine.connect() as raw:
        for statement, params in statements:
            plan = raw.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            details = " | ".join(str(row[-1]) for row in plan)
            for table in ("daily_rollups", "failure_details", "policy_results", "watch_snapshots"):
                assert f"SCAN {table}" not in details, (statement, details)
            # a search by the policy type alone reads every domain of a level
            assert "(policy_type=?)" not in details, (statement, details)


def test_a_few_statements_whatever_the_days(demo: Store) -> None:
    """Domains whose clean stretches start, and whose last failures fall, on
    different days are judged in one statement per read, not one per day."""
    statements: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(demo.engine, "before_cursor_execute", keep)
    try:
        with demo.read() as conn:
            found = readiness(conn, list(DEMO_DOMAINS), END)
    finally:
        sa.event.remove(demo.engine, "before_cursor_execute", keep)
    assert len({r.clean_since for r in found.values()}) >= 3
    # blocking failures, their MX hosts, report days, snapshots, evidence
    # (per organization, days), DANE and no-policy lines, reported policies
    assert len(statements) <= 8, statements
