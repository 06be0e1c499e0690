"""The dashboard's reads of watching (`tlsrpt.store.watch_reads`), on both
backends: firing alerts per domain, the latest check's earliest
certificate expiry, and one alert as a user may see it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tlsrpt.analysis.alert_model import Condition
from tlsrpt.store import reads
from tlsrpt.store.alerts import AlertFilter, alerts_for_user, apply_transitions, current_alerts
from tlsrpt.store.engine import Store
from tlsrpt.store.users import add_domain, add_user
from tlsrpt.store.watch import SnapshotSummary, record_snapshot
from tlsrpt.watch.lifecycle import plan

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _evaluate(store: Store, domain: str, conditions: list[Condition], at: datetime) -> None:
    with store.write() as conn:
        current = current_alerts(conn, [domain])[domain]
        apply_transitions(conn, domain, plan(current, conditions, {}, at, timedelta(0)), at)


def _condition(rule: str, subject: str = "") -> Condition:
    return Condition(rule, subject, "warning", f"{rule} {subject}", "e", None)


def test_firing_counts_per_domain(store: Store) -> None:
    _evaluate(
        store, "a.example", [_condition("mx-set-changed"), _condition("reporter-silent", "G")], NOW
    )
    _evaluate(store, "b.example", [_condition("reports-missing")], NOW)
    _evaluate(store, "b.example", [], NOW + timedelta(hours=1))  # resolved: not counted
    with store.read() as conn:
        counts = reads.firing_counts(conn, ["a.example", "b.example", "c.example"])
    assert counts == {"a.example": 2}


def test_earliest_expiry_of_the_latest_snapshot(store: Store) -> None:
    soon, later = NOW + timedelta(days=3), NOW + timedelta(days=90)
    with store.write() as conn:
        for at, summary, text in (
            (NOW - timedelta(days=2), SnapshotSummary(0, 0, soon), "{}"),
            (NOW, SnapshotSummary(0, 0, later), '{"x": 1}'),  # renewed: the latest counts
        ):
            record_snapshot(conn, "a.example", text, text, summary, at, timedelta(days=1))
        record_snapshot(
            conn, "b.example", "{}", "d", SnapshotSummary(0, 0, None), NOW, timedelta(days=1)
        )
    with store.read() as conn:
        found = reads.earliest_expiries(conn, ["a.example", "b.example", "c.example"])
    assert found == {"a.example": later, "b.example": None}


def test_visible_alert_and_the_resolved_window(store: Store) -> None:
    with store.write() as conn:
        admin = add_user(conn, "admin@op.example", None, admin=True)
        owner = add_user(conn, "owner@a.example", None, admin=False)
        add_domain(conn, "a.example", "owner@a.example")
        add_domain(conn, "b.example")
    _evaluate(store, "b.example", [_condition("reports-missing")], NOW)
    _evaluate(store, "a.example", [_condition("reports-missing")], NOW - timedelta(days=40))
    _evaluate(store, "a.example", [], NOW - timedelta(days=35))
    _evaluate(store, "a.example", [_condition("mx-set-changed")], NOW)
    with store.read() as conn:
        (b_alert,) = alerts_for_user(conn, admin, AlertFilter(domain="b.example"))
        assert reads.visible_alert(conn, admin, b_alert["id"]) is not None
        assert reads.visible_alert(conn, owner, b_alert["id"]) is None
        assert reads.visible_alert(conn, owner, 2**63) is None
        recent = AlertFilter(include_resolved=True, resolved_since=NOW - timedelta(days=30))
        assert [a["rule"] for a in alerts_for_user(conn, owner, recent)] == ["mx-set-changed"]
        everything = AlertFilter(include_resolved=True)
        rules = [a["rule"] for a in alerts_for_user(conn, owner, everything)]
        assert rules == ["mx-set-changed", "reports-missing"]
