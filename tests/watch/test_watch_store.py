"""The schedule's leases and the snapshot history, on SQLite and PostgreSQL
(`tlsrpt.store.watch`); the clock is a parameter everywhere."""

from __future__ import annotations

import datetime as dt
import hashlib

import orjson
import pytest
import sqlalchemy as sa

from tlsrpt.store import watch as db
from tlsrpt.store.engine import Store
from tlsrpt.store.schema import watch_schedule
from tlsrpt.store.users import add_domain

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=10)
NO_SUMMARY = db.SnapshotSummary(0, 0, None)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def register(store: Store, *names: str, overrides: dict[str, int] | None = None) -> None:
    with store.write() as conn:
        for name in names:
            add_domain(conn, name)
    with store.lease_write() as conn:
        added = db.add_new_domains(conn, lambda n: [T0] * n, overrides or {})
    assert added == sorted(names)


def claim(store: Store, owner: str, now: dt.datetime, limit: int = 10, **kw: object) -> list[str]:
    with store.lease_write() as conn:
        return db.claim(conn, owner, now, LEASE, limit, **kw)  # type: ignore[arg-type]


def finish(store: Store, name: str, owner: str, now: dt.datetime, due: dt.datetime) -> bool:
    with store.lease_write() as conn:
        return db.finish(conn, name, owner, now, due)


def test_a_due_domain_goes_to_one_owner(store: Store) -> None:
    register(store, "a.example", "b.example", "c.example")
    assert claim(store, "one", at(0), limit=2) == ["a.example", "b.example"]
    assert claim(store, "two", at(0)) == ["c.example"]
    assert claim(store, "three", at(1)) == []  # every one is leased
    with store.read() as conn:
        row = db.schedule_row(conn, "a.example")
    assert row is not None and (row.lease_owner, row.lease_until) == ("one", at(0) + LEASE)


def test_a_finished_check_is_due_again_after_its_interval(store: Store) -> None:
    register(store, "a.example")
    (name,) = claim(store, "one", at(0))
    assert finish(store, name, "one", at(1), at(60))
    with store.read() as conn:
        row = db.schedule_row(conn, name)
        assert db.next_due_at(conn) == at(60)
    assert row is not None
    assert (row.lease_owner, row.last_checked_at, row.next_due) == (None, at(1), at(60))
    assert claim(store, "two", at(59)) == []
    assert claim(store, "two", at(60)) == [name]


def test_an_expired_lease_is_taken_over_and_the_old_owner_stores_nothing(store: Store) -> None:
    register(store, "a.example")
    assert claim(store, "dead", at(0)) == ["a.example"]
    assert claim(store, "alive", at(5)) == []  # still leased
    assert claim(store, "alive", at(10.1)) == ["a.example"]  # the lease ran out
    assert not finish(store, "a.example", "dead", at(11), at(60))
    assert finish(store, "a.example", "alive", at(11), at(60))


def test_release_gives_unstarted_domains_back(store: Store) -> None:
    register(store, "a.example", "b.example")
    assert claim(store, "one", at(0)) == ["a.example", "b.example"]
    with store.lease_write() as conn:
        db.release(conn, "other", ["a.example"])  # not its lease: nothing happens
        db.release(conn, "one", ["a.example"])
    assert claim(store, "two", at(0)) == ["a.example"]


def test_a_full_cycle_takes_domains_not_checked_since_it_began(store: Store) -> None:
    register(store, "a.example", "b.example")
    (first, _) = claim(store, "one", at(0))
    assert finish(store, first, "one", at(1), at(600))
    assert claim(store, "two", at(2), checked_before=at(0.5)) == []  # b is leased to "one"
    with store.lease_write() as conn:
        db.release(conn, "one", ["b.example"])
        assert db.unchecked_count(conn, at(0.5)) == 1
    # due or not: b is claimed by the cycle that began at 0.5; a (checked at 1)
    # only by a cycle that began later
    assert claim(store, "two", at(2), checked_before=at(0.5)) == ["b.example"]
    assert claim(store, "two", at(2), checked_before=at(3)) == ["a.example"]


def test_interval_overrides_and_unwatched_domains(store: Store) -> None:
    register(store, "a.example", "off.example", overrides={"off.example": 0})
    assert claim(store, "one", at(0), checked_before=at(0)) == ["a.example"]
    with store.lease_write() as conn:
        assert db.unchecked_count(conn, at(0)) == 1
        db.set_overrides(conn, {"a.example": 3600})
        off = db.schedule_row(conn, "off.example")
        a = db.schedule_row(conn, "a.example")
    assert off is not None and a is not None
    assert (off.interval_s, a.interval_s) == (None, 3600)
    assert claim(store, "one", at(0)) == ["off.example"]  # watched again


def test_a_removed_domain_leaves_the_schedule(store: Store) -> None:
    register(store, "a.example")
    with store.write() as conn:
        conn.execute(sa.text("DELETE FROM domains WHERE domain = 'a.example'"))
    with store.read() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(watch_schedule)) == 0


def record(
    store: Store, digest: str, now: dt.datetime, keepalive: float = 7 * 24 * 60
) -> db.Recorded:
    with store.lease_write() as conn:
        return db.record_snapshot(
            conn,
            "a.example",
            f'{{"state": "{digest}"}}',
            digest * 64,
            NO_SUMMARY,
            now,
            dt.timedelta(minutes=keepalive),
        )


def test_snapshots_are_stored_only_when_they_change(store: Store) -> None:
    first = record(store, "a", at(0))
    assert (first.new_state, first.previous) == (True, None)
    same = record(store, "a", at(60))
    assert (same.snapshot_id, same.new_state, same.previous) == (first.snapshot_id, False, None)
    other = record(store, "b", at(120))
    assert other.new_state and other.previous == '{"state": "a"}'
    back = record(store, "a", at(180))
    assert back.new_state and back.previous == '{"state": "b"}'
    with store.read() as conn:
        states = db.states(conn, "a.example", 10)
    assert [(s.snapshot, s.first_seen_at, s.last_seen_at, s.checks) for s in states] == [
        ('{"state": "a"}', at(180), at(180), 1),
        ('{"state": "b"}', at(120), at(120), 1),
        ('{"state": "a"}', at(0), at(60), 2),
    ]


def test_keepalive_rows_repeat_an_unchanged_state(store: Store) -> None:
    """At most one row per keep-alive period for an unchanged state, so
    older rows can be pruned; the timeline still shows one state."""
    record(store, "a", at(0), keepalive=100)
    record(store, "a", at(50), keepalive=100)
    repeat = record(store, "a", at(101), keepalive=100)
    assert not repeat.new_state and repeat.previous is None
    again = record(store, "a", at(150), keepalive=100)
    assert again.snapshot_id == repeat.snapshot_id
    record(store, "b", at(210), keepalive=100)
    with store.read() as conn:
        rows = conn.execute(sa.text("SELECT keepalive, checks FROM watch_snapshots ORDER BY id"))
        assert [(bool(k), c) for k, c in rows] == [(False, 2), (True, 2), (False, 1)]
        states = db.states(conn, "a.example", 10)
        (newest,) = db.states(conn, "a.example", 1)
    assert [(s.first_seen_at, s.last_seen_at, s.checks) for s in states] == [
        (at(210), at(210), 1),
        (at(0), at(150), 4),
    ]
    assert newest.snapshot == '{"state": "b"}'


@pytest.mark.postgres
def test_postgres_claims_skip_rows_another_claim_holds(postgres_url: str) -> None:
    """Two processes claiming at once take different domains, and neither
    waits for the other (FOR UPDATE SKIP LOCKED)."""
    from tlsrpt.store.engine import open_store

    store = open_store(postgres_url)
    try:
        register(store, "a.example", "b.example", "c.example")
        with store.engine.connect() as held, held.begin():
            mine = db.claim(held, "one", at(0), LEASE, 2)  # locked until this commits
            assert mine == ["a.example", "b.example"]
            with store.engine.connect() as other, other.begin():
                other.exec_driver_sql("SET LOCAL lock_timeout = '5s'")  # fail, never hang
                assert db.claim(other, "two", at(0), LEASE, 10) == ["c.example"]
    finally:
        store.close()


def test_has_tlsrpt_records_reads_each_domain_s_latest_snapshot(store: Store) -> None:
    """What the reports-missing rule asks the watch history."""
    register(store, "a.example", "b.example", "c.example")

    def record(domain: str, records: list[str], minutes: float) -> None:
        text = orjson.dumps({"tlsrpt": {"records": records, "status": "ok"}}).decode()
        with store.lease_write() as conn:
            digest = hashlib.sha256(text.encode()).hexdigest()
            db.record_snapshot(conn, domain, text, digest, NO_SUMMARY, at(minutes), LEASE)

    record("a.example", ["v=TLSRPTv1; rua=mailto:r@example.net"], 0)
    record("a.example", [], 60)  # the record went away
    record("b.example", [], 0)
    record("b.example", ["v=TLSRPTv1; rua=mailto:r@example.net"], 60)
    with store.read() as conn:
        found = db.has_tlsrpt_records(conn, ["a.example", "b.example", "c.example"])
    assert found == {"a.example": False, "b.example": True}  # c.example: never checked
