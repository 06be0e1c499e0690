"""The outbox table: rows written in the caller's transaction, one per
matching channel and recipient, with unique idempotency keys; leases."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tlsrpt.channels import parse_channels
from tlsrpt.store import outbox
from tlsrpt.store.engine import Store
from tlsrpt.store.users import add_domain, add_user

CHANNELS = parse_channels(
    [
        {"type": "webhook", "name": "all", "url": "http://127.0.0.1:9/", "secret": "k"},
        {
            "type": "webhook",
            "name": "org",
            "url": "http://127.0.0.1:9/",
            "secret": "k",
            "domains": ["example.org"],
        },
        {
            "type": "webhook",
            "name": "customer",
            "url": "http://127.0.0.1:9/",
            "secret": "k",
            "owners": ["customer@example.net"],
        },
        {
            "type": "email",
            "name": "mail",
            "to": ["a@example.com", "b@example.com"],
            "from": "t@example.com",
            "smtp_url": "smtp://127.0.0.1:9",
            "starttls": False,
        },
    ]
)
NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)


def _enqueue(store: Store, event: str, alert: dict[str, Any], **kw: Any) -> list[int]:
    with store.write() as conn:
        return outbox.enqueue(conn, event, alert, CHANNELS, now=NOW, **kw)


def _all(store: Store) -> list[outbox.OutboxRow]:
    with store.read() as conn:
        return outbox.list_rows(conn, states=outbox.STATES, limit=1000)


def test_one_row_per_matching_channel_and_recipient(
    store: Store, alert_factory: Callable[..., dict[str, Any]]
) -> None:
    with store.write() as conn:
        add_user(conn, "customer@example.net", None, admin=False)
        add_domain(conn, "customer.example", "customer@example.net")
    _enqueue(store, "alert.firing", alert_factory(1, domain="example.com"))
    _enqueue(store, "alert.firing", alert_factory(2, domain="example.org"))
    _enqueue(store, "alert.firing", alert_factory(3, domain="customer.example"))
    by_alert: dict[str, set[tuple[str, str | None]]] = {}
    for row in _all(store):
        by_alert.setdefault(row.alert_id, set()).add((row.channel, row.recipient))
    mail = {("mail", "a@example.com"), ("mail", "b@example.com")}
    assert by_alert == {
        "1": {("all", None), *mail},
        "2": {("all", None), ("org", None), *mail},
        "3": {("all", None), ("customer", None), *mail},
    }
    rows = _all(store)
    assert len({r.idempotency_key for r in rows}) == len(rows)
    assert {r.state for r in rows} == {"pending"}
    body = orjson.loads(rows[0].body)
    assert set(body) == {"event", "alert"} and body["event"] == "alert.firing"


def test_each_event_of_an_alert_gets_new_keys(
    store: Store, alert_factory: Callable[..., dict[str, Any]]
) -> None:
    alert = alert_factory(7)
    _enqueue(store, "alert.firing", alert)
    _enqueue(store, "alert.renotify", alert)
    _enqueue(store, "alert.renotify", alert)
    _enqueue(store, "alert.resolved", {**alert, "state": "resolved"})
    rows = [r for r in _all(store) if r.channel == "all"]
    assert sorted((r.sequence, r.event) for r in rows) == [
        (1, "alert.firing"),
        (2, "alert.renotify"),
        (3, "alert.renotify"),
        (4, "alert.resolved"),
    ]
    assert len({r.idempotency_key for r in rows}) == 4
    renotify = next(r for r in rows if r.event == "alert.renotify")
    assert orjson.loads(renotify.body)["event"] == "alert.firing"
    assert orjson.loads(renotify.body)["renotify"] is True
    # the same event again with an explicit sequence is the same notification
    with pytest.raises(Exception, match=r"(?i)unique"):
        _enqueue(store, "alert.firing", alert, sequence=1)


def test_rows_are_part_of_the_callers_transaction(
    store: Store, alert_factory: Callable[..., dict[str, Any]]
) -> None:
    class AlertChangeFailed(Exception):
        pass

    def change_alert() -> None:
        with store.write() as conn:
            assert outbox.enqueue(conn, "alert.firing", alert_factory(), CHANNELS, now=NOW)
            raise AlertChangeFailed

    with pytest.raises(AlertChangeFailed):
        change_alert()
    assert _all(store) == []


def test_unknown_event_is_refused(
    store: Store, alert_factory: Callable[..., dict[str, Any]]
) -> None:
    with pytest.raises(ValueError, match=r"unknown alert event 'alert\.flapping'"):
        _enqueue(store, "alert.flapping", alert_factory())


def test_claim_leases_and_counts_attempts(
    store: Store, alert_factory: Callable[..., dict[str, Any]]
) -> None:
    _enqueue(store, "alert.firing", alert_factory())
    first = outbox.claim(store, "a", NOW, LEASE, 10, ["all", "mail"])
    assert sorted(r.channel for r in first) == ["all", "mail", "mail"]
    assert {(r.lease_owner, r.attempts) for r in first} == {("a", 1)}
    assert outbox.claim(store, "b", NOW + LEASE / 2, LEASE, 10, ["all", "mail"]) == []
    # a holder that is not the owner cannot reschedule or fail the rows
    ids = [r.id for r in first]
    assert outbox.mark_retry(store, ids, "b", NOW, "x") == 0
    assert outbox.mark_failed(store, ids, "b", "x") == 0
    again = outbox.claim(store, "b", NOW + LEASE, LEASE, 10, ["all", "mail"])
    assert sorted(r.id for r in again) == sorted(ids)
    assert {(r.lease_owner, r.attempts) for r in again} == {("b", 2)}
    assert outbox.mark_delivered(store, ids, NOW + LEASE) == 3
    assert {r.state for r in _all(store) if r.id in ids} == {"delivered"}


def test_retry_is_due_at_its_time(
    store: Store, alert_factory: Callable[..., dict[str, Any]]
) -> None:
    _enqueue(store, "alert.firing", alert_factory())
    (row,) = outbox.claim(store, "a", NOW, LEASE, 10, ["all"])
    assert outbox.mark_retry(store, [row.id], "a", NOW + dt.timedelta(minutes=2), "HTTP 503") == 1
    assert outbox.claim(store, "a", NOW + dt.timedelta(minutes=1), LEASE, 10, ["all"]) == []
    (again,) = outbox.claim(store, "a", NOW + dt.timedelta(minutes=2), LEASE, 10, ["all"])
    assert (again.id, again.attempts, again.last_error) == (row.id, 2, "HTTP 503")


def test_backlog_per_channel(store: Store, alert_factory: Callable[..., dict[str, Any]]) -> None:
    _enqueue(store, "alert.firing", alert_factory(1))
    _enqueue(store, "alert.firing", alert_factory(2))
    rows = outbox.claim(store, "a", NOW, LEASE, 10, ["all"])
    outbox.mark_delivered(store, [rows[0].id], NOW)
    outbox.mark_failed(store, [rows[1].id], "a", "HTTP 410 Gone")
    with store.read() as conn:
        backlog = outbox.backlog(conn)
    assert [(b.channel, b.pending, b.failed) for b in backlog] == [("all", 0, 1), ("mail", 4, 0)]
    assert backlog[1].oldest_pending == NOW
    listed = [r.to_json(NOW) for r in _all(store)]
    failed = next(r for r in listed if r["state"] == "failed")
    assert failed["last_error"] == "HTTP 410 Gone" and failed["rule"] == "mx-certificate-expiring"


@pytest.mark.postgres
def test_concurrent_claims_on_postgresql_never_share_a_row(
    postgres_url: str, alert_factory: Callable[..., dict[str, Any]]
) -> None:
    """Eight claimers at once, in threads with connections of their own:
    every row is claimed exactly once (FOR UPDATE SKIP LOCKED)."""
    from tlsrpt.store.engine import open_store

    stores = [open_store(postgres_url) for _ in range(8)]
    try:
        for i in range(60):
            _enqueue(stores[0], "alert.firing", alert_factory(i))
        claimed: list[list[int]] = [[] for _ in stores]
        start = threading.Barrier(len(stores))

        def claimer(n: int) -> None:
            start.wait()
            while rows := outbox.claim(stores[n], f"d{n}", NOW, LEASE, 7, ["all", "mail"]):
                claimed[n].extend(r.id for r in rows)

        threads = [threading.Thread(target=claimer, args=(n,)) for n in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        every = [i for ids in claimed for i in ids]
        assert len(every) == 60 * 3 == len(set(every))
        assert sum(1 for ids in claimed if ids) > 1  # the work was shared
    finally:
        for s in stores:
            s.close()
