"""SQL of watching: the schedule with its leases, and the snapshot history.

Leases: a process claims due domains by writing its name and a lease
expiry into their schedule rows, and gives them back when their checks
are stored. On PostgreSQL the claim reads the due rows `FOR UPDATE SKIP
LOCKED`, so processes claiming at the same moment take different domains
without waiting for each other, in a transaction without the report
writers' advisory lock; on SQLite the single writer claims them with an
UPDATE in its write transaction. A lease that runs out (its process died
or hangs) makes the domain claimable again; a process whose lease was
taken over stores nothing for that domain.

Times are naive UTC in the database and aware UTC in the API.

The statements run once per check (`finish`, the reads and the update of
`record_snapshot`) are built once, with bound parameters: the watcher runs
them inside its write transaction, and building a statement costs SQLAlchemy
several times what SQLite takes to run it (on SQLite that transaction holds
the write lock report ingestion waits for).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tlsrpt.store.accounts import domains
from tlsrpt.store.alert_reads import any_of
from tlsrpt.store.schema import watch_schedule, watch_snapshots

_S = watch_schedule.c
_N = watch_snapshots.c
_CHUNK = 500  # values per IN list


def _db(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None else None


# --- the schedule -----------------------------------------------------------


def _insert(conn: Connection) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(watch_schedule).on_conflict_do_nothing()
    return sqlite.insert(watch_schedule).on_conflict_do_nothing()


def add_new_domains(
    conn: Connection,
    first_due: Callable[[int], list[dt.datetime]],
    overrides: Mapping[str, int],
) -> list[str]:
    """Schedule every registered domain that has no schedule row yet;
    `first_due(n)` gives their first due times. Returns them."""
    scheduled = sa.select(_S.domain).where(_S.domain == domains.c.domain).exists()
    new = list(conn.scalars(sa.select(domains.c.domain).where(~scheduled).order_by("domain")))
    if new:
        rows = [
            {"domain": name, "next_due": _db(due), "interval_s": overrides.get(name)}
            for name, due in zip(new, first_due(len(new)), strict=True)
        ]
        conn.execute(_insert(conn), rows)
    return new


def set_overrides(conn: Connection, overrides: Mapping[str, int]) -> None:
    """Make the interval overrides of the schedule those of the settings."""
    conn.execute(
        watch_schedule.update()
        .where(_S.interval_s.is_not(None), _S.domain.not_in(list(overrides)))
        .values(interval_s=None)
    )
    for name, seconds in overrides.items():
        conn.execute(
            watch_schedule.update()
            .where(_S.domain == name, sa.or_(_S.interval_s.is_(None), _S.interval_s != seconds))
            .values(interval_s=seconds)
        )


_WATCHED = sa.or_(_S.interval_s.is_(None), _S.interval_s > 0)


def _free(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.or_(_S.lease_until.is_(None), _S.lease_until < _db(now))


def _unchecked_since(moment: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.or_(_S.last_checked_at.is_(None), _S.last_checked_at < _db(moment))


def claim(
    conn: Connection,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    checked_before: dt.datetime | None = None,
) -> list[str]:
    """Lease up to `limit` domains to `owner` until `now + lease`: those due
    at `now`, or with `checked_before` those not checked since then (a full
    cycle, due or not). Domains leased to another process are passed over."""
    condition = [_WATCHED, _free(now)]
    if checked_before is None:
        condition.append(_S.next_due <= _db(now))
    else:
        condition.append(_unchecked_since(checked_before))
    query = (
        sa.select(_S.domain)
        .where(*condition)
        .order_by(_S.next_due, _S.domain)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer
    )
    claimed = list(conn.scalars(query))
    if claimed:
        conn.execute(
            watch_schedule.update()
            .where(_S.domain.in_(claimed))
            .values(lease_owner=owner, lease_until=_db(now + lease))
        )
    return claimed


_FINISH = (
    watch_schedule.update()
    .where(_S.domain == sa.bindparam("b_domain"), _S.lease_owner == sa.bindparam("b_owner"))
    .values(
        lease_owner=None,
        lease_until=None,
        last_checked_at=sa.bindparam("b_now", type_=_S.last_checked_at.type),
        next_due=sa.bindparam("b_next_due", type_=_S.next_due.type),
        last_error=sa.bindparam("b_error", type_=_S.last_error.type),
    )
)


def finish(
    conn: Connection,
    domain: str,
    owner: str,
    now: dt.datetime,
    next_due: dt.datetime,
    error: str | None = None,
) -> bool:
    """Give the lease back after a check at `now`. False when `owner` no
    longer holds it (it ran out and another process took the domain)."""
    params = {"b_domain": domain, "b_owner": owner, "b_now": _db(now)}
    result = conn.execute(_FINISH, {**params, "b_next_due": _db(next_due), "b_error": error})
    return result.rowcount == 1


def release(conn: Connection, owner: str, names: Sequence[str]) -> None:
    """Give back leases of domains whose checks never started."""
    if names:
        conn.execute(
            watch_schedule.update()
            .where(_S.domain.in_(list(names)), _S.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def unchecked_count(conn: Connection, since: dt.datetime) -> int:
    """Watched domains not checked since `since` (leased ones included)."""
    query = sa.select(sa.func.count()).where(_WATCHED, _unchecked_since(since))
    return int(conn.scalar(query.select_from(watch_schedule)) or 0)


def next_due_at(conn: Connection) -> dt.datetime | None:
    """When the next watched domain is due (leased ones included)."""
    return _utc(conn.scalar(sa.select(sa.func.min(_S.next_due)).where(_WATCHED)))


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    domain: str
    next_due: dt.datetime
    interval_s: int | None
    lease_owner: str | None
    lease_until: dt.datetime | None
    last_checked_at: dt.datetime | None
    last_error: str | None


def schedule_row(conn: Connection, domain: str) -> ScheduleRow | None:
    row = conn.execute(sa.select(watch_schedule).where(_S.domain == domain)).first()
    if row is None:
        return None
    return ScheduleRow(
        row.domain,
        _utc(row.next_due),  # type: ignore[arg-type]
        row.interval_s,
        row.lease_owner,
        _utc(row.lease_until),
        _utc(row.last_checked_at),
        row.last_error,
    )


def is_registered(conn: Connection, domain: str) -> bool:
    if "\x00" in domain:  # never stored; PostgreSQL refuses it in a query
        return False
    query = sa.select(domains.c.domain).where(domains.c.domain == domain)
    return conn.execute(query).first() is not None


# --- snapshots --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    snapshot_id: int
    new_state: bool  # the digest differs from the previous row's (or there was none)
    previous: str | None  # the previous state's snapshot JSON, when new_state


@dataclass(frozen=True, slots=True)
class SnapshotSummary:
    """The columns kept beside the snapshot JSON."""

    errors: int
    warnings: int
    earliest_not_after: dt.datetime | None


_LATEST = (
    sa.select(_N.id, _N.digest, _N.snapshot, _N.first_seen_at)
    .where(_N.domain == sa.bindparam("b_domain"))
    .order_by(_N.id.desc())
    .limit(1)
)
_SEEN_AGAIN = (
    watch_snapshots.update()
    .where(_N.id == sa.bindparam("b_id"))
    .values(last_seen_at=sa.bindparam("b_seen", type_=_N.last_seen_at.type), checks=_N.checks + 1)
)
_NEW_SNAPSHOT = watch_snapshots.insert()


def record_snapshot(
    conn: Connection,
    domain: str,
    snapshot: str,
    digest: str,
    summary: SnapshotSummary,
    now: dt.datetime,
    keepalive: dt.timedelta,
) -> Recorded:
    """Store a check compactly: the same digest as the latest row only
    updates that row (last seen, count), unless the row is older than
    `keepalive`, when a repeat row is written (so history before it can be
    pruned without losing the current state); another digest is a new row."""
    latest = conn.execute(_LATEST, {"b_domain": domain}).first()
    stamp = _db(now)
    if latest is not None and latest.digest == digest and stamp - latest.first_seen_at < keepalive:
        conn.execute(_SEEN_AGAIN, {"b_id": latest.id, "b_seen": stamp})
        return Recorded(int(latest.id), False, None)
    same = latest is not None and latest.digest == digest
    expiry = summary.earliest_not_after
    pk = conn.execute(
        _NEW_SNAPSHOT,
        {
            "domain": domain,
            "digest": digest,
            "snapshot": snapshot,
            "first_seen_at": stamp,
            "last_seen_at": stamp,
            "checks": 1,
            "keepalive": same,
            "errors": summary.errors,
            "warnings": summary.warnings,
            "earliest_not_after": _db(expiry) if expiry else None,
        },
    ).inserted_primary_key
    assert pk is not None
    previous = latest.snapshot if latest is not None and not same else None
    return Recorded(int(pk[0]), not same, previous)


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    id: int
    digest: str
    snapshot: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime  # of this state, keep-alive repeats included
    checks: int  # checks that saw this state, keep-alive repeats included


def states(conn: Connection, domain: str, limit: int) -> list[SnapshotRow]:
    """The `limit` latest states of a domain, newest first: rows that are not
    keep-alive repeats, with the last-seen time and check count of the
    repeats that followed each."""
    heads = conn.execute(
        sa.select(_N.id, _N.digest, _N.snapshot, _N.first_seen_at)
        .where(_N.domain == domain, sa.not_(_N.keepalive))
        .order_by(_N.id.desc())
        .limit(limit)
    ).all()
    return _folded(conn, domain, heads, None)


def states_between(
    conn: Connection, domain: str, start: dt.datetime, end: dt.datetime
) -> list[SnapshotRow]:
    """The states of a domain that held between `start` and `end`, oldest
    first: the one in effect at `start` (the latest first seen at or before
    it) and every one first seen before `end`."""
    heads = sa.select(_N.id).where(_N.domain == domain, sa.not_(_N.keepalive))
    anchor = conn.scalar(
        heads.where(_N.first_seen_at <= _db(start)).order_by(_N.id.desc()).limit(1)
    )
    found = conn.execute(
        sa.select(_N.id, _N.digest, _N.snapshot, _N.first_seen_at)
        .where(
            _N.domain == domain,
            sa.not_(_N.keepalive),
            _N.first_seen_at < _db(end),
            _N.id >= (anchor or 0),
        )
        .order_by(_N.id.desc())
    ).all()
    return list(reversed(_folded(conn, domain, found, _db(end))))


def _folded(
    conn: Connection, domain: str, heads: Sequence[Any], until: dt.datetime | None
) -> list[SnapshotRow]:
    """`heads` (newest first) with the last-seen time and check count of the
    keep-alive repeats that followed each (those first seen before `until`)."""
    if not heads:
        return []
    oldest = heads[-1].id
    where = [_N.domain == domain, _N.id >= oldest]
    if until is not None:
        where.append(_N.first_seen_at < until)
    spans = conn.execute(
        sa.select(_N.id, _N.keepalive, _N.last_seen_at, _N.checks).where(*where).order_by(_N.id)
    ).all()
    seen: dict[int, tuple[dt.datetime, int]] = {}
    head = oldest
    for row in spans:
        if not row.keepalive:
            head = row.id
        last, checks = seen.get(head, (row.last_seen_at, 0))
        seen[head] = (max(last, row.last_seen_at), checks + row.checks)
    return [
        SnapshotRow(
            int(h.id),
            h.digest,
            h.snapshot,
            h.first_seen_at.replace(tzinfo=dt.UTC),
            seen[h.id][0].replace(tzinfo=dt.UTC),
            seen[h.id][1],
        )
        for h in heads
    ]


def has_tlsrpt_records(conn: Connection, domains: Sequence[str]) -> dict[str, bool]:
    """Per domain, whether its latest snapshot holds a TLS-RPT record (what
    the `reports-missing` rule asks); domains never checked are left out."""
    out: dict[str, bool] = {}
    names = list(dict.fromkeys(domains))
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        latest = (
            sa.select(sa.func.max(_N.id)).where(any_of(conn, _N.domain, chunk)).group_by(_N.domain)
        )
        for domain, text in conn.execute(
            sa.select(_N.domain, _N.snapshot).where(_N.id.in_(latest.scalar_subquery()))
        ):
            tlsrpt = orjson.loads(text).get("tlsrpt") or {}
            out[domain] = bool(tlsrpt.get("records"))
    return out
