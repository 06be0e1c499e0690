"""Alerts in the database, on SQLite and PostgreSQL: transitions applied in
the caller's transaction, events unique by idempotency key, at most one
firing alert per (domain, rule, subject), mutes, acks, lists."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tlsrpt.analysis.alert_model import AlertEvent, Condition
from tlsrpt.store import alerts as store_alerts
from tlsrpt.store.alerts import (
    AlertFilter,
    ack,
    active_mutes,
    advance_mark,
    alerts_for_user,
    apply_transitions,
    current_alerts,
    events_since,
    firing_count,
    list_alerts,
    list_mutes,
    marks,
    mute,
    unmute,
)
from tlsrpt.store.engine import Store
from tlsrpt.store.schema import alert_events, alerts
from tlsrpt.store.users import add_domain, add_user, get_user
from tlsrpt.watch.lifecycle import plan, plan_sweep

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
COOLDOWN = timedelta(hours=2)


def cond(
    subject: str = "mx1.example.com", level: int | None = None, rule: str = "mx-certificate-expired"
) -> Condition:
    return Condition(
        rule, subject, "error", f"{rule} at {subject}", "why", "renew it", {"host": subject}, level
    )


def evaluate(
    store: Store, domain: str, conditions: list[Condition], now: datetime
) -> list[AlertEvent]:
    with store.write() as conn:
        current = current_alerts(conn, [domain])[domain]
        mutes = active_mutes(conn, [domain], now).get(domain, {})
        return apply_transitions(conn, domain, plan(current, conditions, mutes, now, COOLDOWN), now)


def test_open_update_resolve_and_settle(store: Store) -> None:
    (opened,) = evaluate(store, "example.com", [cond()], NOW)
    assert opened.kind == "firing" and opened.event == "alert.firing"
    assert opened.key == f"alert-{opened.alert_id}-1"
    assert opened.alert["state"] == "firing"
    assert opened.alert["first_seen"] == "2026-12-01T12:00:00Z"
    assert opened.alert["fix"] == "renew it"
    assert opened.alert["evidence"] == {"host": "mx1.example.com"}

    assert evaluate(store, "example.com", [cond()], NOW + timedelta(hours=6)) == []
    with store.read() as conn:
        (row,) = list_alerts(conn)
    assert row == {
        "id": opened.alert_id,
        "domain": "example.com",
        "rule": "mx-certificate-expired",
        "severity": "error",
        "state": "firing",
        "subject": "mx1.example.com",
        "summary": "mx-certificate-expired at mx1.example.com",
        "first_seen": "2026-12-01T12:00:00Z",
        "last_seen": "2026-12-01T18:00:00Z",
        "resolved_at": None,
        "acked_at": None,
    }

    assert (
        evaluate(store, "example.com", [], NOW + timedelta(hours=7)) == []
    )  # waits for the cooldown
    with store.read() as conn:
        assert list_alerts(conn) == []
        (resolved,) = list_alerts(conn, AlertFilter(include_resolved=True))
    assert resolved["state"] == "resolved"
    assert resolved["resolved_at"] == "2026-12-01T19:00:00Z"

    (settled,) = evaluate(store, "example.com", [], NOW + timedelta(hours=9))
    assert (settled.kind, settled.key) == ("resolved", f"alert-{opened.alert_id}-2")
    assert settled.alert["state"] == "resolved"
    with store.read() as conn:
        assert current_alerts(conn, ["example.com"])["example.com"] == []
        assert [e.key for e in events_since(conn)] == [opened.key, settled.key]


def test_flapping_reopens_the_same_alert_without_events(store: Store) -> None:
    (opened,) = evaluate(store, "example.com", [cond()], NOW)
    assert evaluate(store, "example.com", [], NOW + timedelta(minutes=10)) == []
    assert evaluate(store, "example.com", [cond()], NOW + timedelta(minutes=20)) == []
    with store.read() as conn:
        (row,) = list_alerts(conn, AlertFilter(include_resolved=True))
    assert (row["id"], row["state"], row["resolved_at"]) == (opened.alert_id, "firing", None)
    # Gone for longer than the cooldown: resolved (notified), then a new alert.
    evaluate(store, "example.com", [], NOW + timedelta(hours=1))
    events = evaluate(store, "example.com", [cond()], NOW + timedelta(hours=4))
    assert [(e.kind, e.alert_id == opened.alert_id) for e in events] == [
        ("resolved", True),
        ("firing", False),
    ]


def test_level_crossings_renotify_with_new_keys(store: Store) -> None:
    (first,) = evaluate(store, "example.com", [cond(level=30, rule="mx-certificate-expiring")], NOW)
    assert (
        evaluate(store, "example.com", [cond(level=30, rule="mx-certificate-expiring")], NOW) == []
    )
    (second,) = evaluate(
        store, "example.com", [cond(level=14, rule="mx-certificate-expiring")], NOW
    )
    assert second.alert_id == first.alert_id
    assert (second.key, second.alert["level"]) == (f"alert-{first.alert_id}-2", 14)
    (third,) = evaluate(store, "example.com", [cond(level=7, rule="mx-certificate-expiring")], NOW)
    assert third.key.endswith("-3")


def test_transitions_roll_back_with_the_callers_transaction(store: Store) -> None:
    def fails_after_applying() -> None:
        with store.write() as conn:
            transitions = plan([], [cond()], {}, NOW, COOLDOWN)
            assert len(apply_transitions(conn, "example.com", transitions, NOW)) == 1
            raise RuntimeError("the caller's outbox write failed")

    with pytest.raises(RuntimeError, match="outbox"):
        fails_after_applying()
    with store.read() as conn:
        assert list_alerts(conn, AlertFilter(include_resolved=True)) == []
        assert events_since(conn) == []


def test_event_keys_are_unique(store: Store) -> None:
    (opened,) = evaluate(store, "example.com", [cond()], NOW)
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.execute(
            alert_events.insert().values(
                key=opened.key,
                alert_id=opened.alert_id,
                kind="firing",
                created_at=NOW.replace(tzinfo=None),
                payload="{}",
            )
        )
    # An event recorded already (its key taken) is not recorded twice.
    with store.write() as conn:
        conn.execute(
            alert_events.insert().values(
                key=f"alert-{opened.alert_id}-2",
                alert_id=opened.alert_id,
                kind="firing",
                created_at=NOW.replace(tzinfo=None),
                payload="{}",
            )
        )
    assert evaluate(store, "example.com", [cond(level=1, rule="mx-certificate-expired")], NOW) == []


def test_one_firing_alert_per_domain_rule_and_subject(store: Store) -> None:
    evaluate(store, "example.com", [cond()], NOW)
    row = {
        "domain": "example.com",
        "rule": "mx-certificate-expired",
        "subject": "mx1.example.com",
        "source": "check",
        "severity": "error",
        "summary": "s",
        "explanation": "e",
        "evidence": "{}",
        "notified": False,
        "events": 0,
        "first_seen": NOW.replace(tzinfo=None),
        "last_seen": NOW.replace(tzinfo=None),
    }
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.execute(alerts.insert().values(**row, phase="firing"))
    with store.write() as conn:  # resolved ones of the same key are history
        conn.execute(alerts.insert().values(**row, phase="resolved"))
        conn.execute(alerts.insert().values(**row, phase="resolved"))
    # Opening again while one is firing does nothing (another process won).
    with store.write() as conn:
        transitions = plan([], [cond()], {}, NOW, COOLDOWN)
        assert apply_transitions(conn, "example.com", transitions, NOW) == []
    with store.read() as conn:
        assert len(list_alerts(conn)) == 1


@pytest.mark.postgres
def test_two_postgresql_transactions_opening_at_once_open_one(postgres_url: str) -> None:
    """Without the store's write lock, two transactions that both saw no
    alert: the partial unique index makes the second open a no-op."""
    from tlsrpt.store.engine import open_store

    store = open_store(postgres_url)
    barrier = threading.Barrier(2)
    results: list[list[AlertEvent]] = []

    def one() -> None:
        with store.engine.connect() as conn, conn.begin():
            current = current_alerts(conn, ["example.com"])["example.com"]
            barrier.wait()
            results.append(
                apply_transitions(
                    conn, "example.com", plan(current, [cond()], {}, NOW, COOLDOWN), NOW
                )
            )

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert sorted(len(r) for r in results) == [0, 1]
        with store.read() as conn:
            assert len(list_alerts(conn)) == 1
            assert len(events_since(conn)) == 1
    finally:
        store.close()


def test_mutes_hold_notifications_back(store: Store) -> None:
    with store.write() as conn:
        mute(
            conn,
            "example.com",
            "mx-certificate-expired",
            NOW + timedelta(days=7),
            NOW,
            "ops@example.com",
        )
        mute(
            conn, "example.com", "mx-certificate-expired", NOW + timedelta(days=1), NOW
        )  # replaces
    with store.read() as conn:
        assert list_mutes(conn, NOW) == [
            {
                "domain": "example.com",
                "rule": "mx-certificate-expired",
                "until": "2026-12-02T12:00:00Z",
                "created_at": "2026-12-01T12:00:00Z",
                "created_by": None,
            }
        ]
        assert firing_count(conn, NOW) == 0
    assert evaluate(store, "example.com", [cond()], NOW) == []
    with store.read() as conn:
        assert len(list_alerts(conn)) == 1
        assert firing_count(conn, NOW) == 0  # muted alerts do not count
        assert firing_count(conn, NOW + timedelta(days=2)) == 1
    # The mute ends: the sweep announces the alert still firing.
    later = NOW + timedelta(days=2)
    with store.write() as conn:
        candidates = store_alerts.sweep_candidates(conn)
        transitions = plan_sweep(candidates["example.com"], {}, later, COOLDOWN)
        (event,) = apply_transitions(conn, "example.com", transitions, later)
    assert event.kind == "firing"
    with store.write() as conn:
        assert unmute(conn, "example.com", "mx-certificate-expired")
        assert not unmute(conn, "example.com", "mx-certificate-expired")


def test_ack_marks_an_alert(store: Store) -> None:
    (opened,) = evaluate(store, "example.com", [cond()], NOW)
    with store.write() as conn:
        acked = ack(conn, opened.alert_id, "ops@example.com", NOW + timedelta(hours=1))
        assert ack(conn, opened.alert_id + 100, None, NOW) is None
    assert acked is not None and acked["acked_at"] == "2026-12-01T13:00:00Z"
    assert (
        evaluate(store, "example.com", [cond()], NOW + timedelta(hours=2)) == []
    )  # no effect on notifying


def test_users_see_the_alerts_of_their_domains_only(store: Store) -> None:
    with store.write() as conn:
        add_user(conn, "admin@op.example", None, admin=True)
        add_user(conn, "a@customer.example", None, admin=False)
        add_user(conn, "b@customer.example", None, admin=False)
        add_domain(conn, "alpha.example", "a@customer.example")
        add_domain(conn, "beta.example", "b@customer.example")
    evaluate(store, "alpha.example", [cond("mx.alpha.example")], NOW)
    evaluate(store, "beta.example", [cond("mx.beta.example")], NOW)
    evaluate(store, "", [Condition("quarantine-growing", "", "warning", "q", "e", None)], NOW)
    with store.read() as conn:
        a = get_user(conn, "a@customer.example")
        admin = get_user(conn, "admin@op.example")
        assert a is not None and admin is not None
        assert [x["domain"] for x in alerts_for_user(conn, a)] == ["alpha.example"]
        assert alerts_for_user(conn, a, AlertFilter(domain="beta.example")) == []
        assert sorted(str(x["domain"]) for x in alerts_for_user(conn, admin)) == [
            "None",
            "alpha.example",
            "beta.example",
        ]


def test_marks_move_by_compare_and_set(store: Store) -> None:
    with store.write() as conn:
        assert marks(conn) == {}
        assert advance_mark(conn, "reports", None, 10, NOW)
        assert not advance_mark(conn, "reports", None, 11, NOW)  # set meanwhile
        assert not advance_mark(conn, "reports", 9, 12, NOW)
        assert advance_mark(conn, "reports", 10, 20, NOW)
        assert marks(conn) == {"reports": 20}


def test_a_transition_on_an_alert_changed_meanwhile_opens_a_new_one(store: Store) -> None:
    from tlsrpt.analysis.alert_settings import AlertSettings
    from tlsrpt.watch.alerting import sweep

    (opened,) = evaluate(store, "example.com", [cond()], NOW)
    evaluate(store, "example.com", [], NOW + timedelta(minutes=10))
    with store.read() as conn:
        stale = current_alerts(conn, ["example.com"])["example.com"]
    with store.write() as conn:  # another transaction settles it meanwhile
        conn.execute(alerts.update().where(alerts.c.id == opened.alert_id).values(phase="resolved"))
    later = NOW + timedelta(minutes=20)
    transitions = plan(stale, [cond()], {}, later, COOLDOWN)
    assert [t.kind for t in transitions] == ["reopen"]
    with store.write() as conn:
        assert apply_transitions(conn, "example.com", transitions, later) == []
    with store.read() as conn:
        (fresh,) = list_alerts(conn)
    assert fresh["id"] != opened.alert_id
    with store.write() as conn:  # the sweep announces it
        (event,) = sweep(conn, later, AlertSettings())
    assert (event.alert_id, event.kind) == (fresh["id"], "firing")
