"""SQL of the notification outbox (table `outbox`, tlsrpt.store.schema).

Every notification is a row written by `enqueue` in the transaction that
changes the alert, so an alert change and its notifications are committed
together or not at all. Deliverers (tlsrpt.watch.deliver) then claim due
rows with a lease, send them and record the outcome: delivered, a retry at
a later `due_at` with the error, or failed. A deliverer that dies holding a
lease loses nothing: once the lease runs out the row is due again, and the
receiver recognises the repeat by its idempotency key.

Claims: on PostgreSQL the due rows are read `FOR UPDATE SKIP LOCKED` in a
plain transaction (not under the report writers' advisory lock), so
deliverers claiming at the same moment take different rows without waiting;
on SQLite the single writer claims them with an UPDATE in its write
transaction. Times are naive UTC in the database and aware UTC in the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.channels import Channel, EmailChannel, channel_owners_needed
from tlsrpt.store.accounts import domain_owners, users
from tlsrpt.store.engine import Store
from tlsrpt.store.schema import outbox

_O = outbox.c
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATES = (PENDING, DELIVERED, FAILED)
EVENTS = ("alert.firing", "alert.resolved", "alert.renotify")
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    idempotency_key: str
    alert_id: str
    event: str
    sequence: int
    domain: str | None
    channel: str
    recipient: str | None
    body: str
    digest_day: dt.date | None
    state: str
    created_at: dt.datetime
    due_at: dt.datetime
    attempts: int
    lease_owner: str | None
    lease_until: dt.datetime | None
    last_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_error: str | None

    @property
    def payload(self) -> dict[str, Any]:
        """The notification: `{"event", "alert"}` (the webhook body)."""
        value: dict[str, Any] = orjson.loads(self.body)
        return value

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        """The row as `tlsrpt alerts outbox --json` prints it (no body)."""
        sending = self.state == PENDING and self.lease_until is not None and self.lease_until > now
        alert = self.payload.get("alert", {})
        return {
            "id": self.id,
            "idempotency_key": self.idempotency_key,
            "alert_id": self.alert_id,
            "event": self.event,
            "domain": self.domain,
            "rule": alert.get("rule"),
            "summary": alert.get("summary"),
            "channel": self.channel,
            "recipient": self.recipient,
            "state": "sending" if sending else self.state,
            "attempts": self.attempts,
            "created_at": _iso(self.created_at),
            "due_at": _iso(self.due_at) if self.state == PENDING else None,
            "digest_day": self.digest_day.isoformat() if self.digest_day else None,
            "last_attempt_at": _iso(self.last_attempt_at),
            "delivered_at": _iso(self.delivered_at),
            "last_error": self.last_error,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _db(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None else None


_TIMES = ("created_at", "due_at", "lease_until", "last_attempt_at", "delivered_at")


def _row(row: sa.Row[Any]) -> OutboxRow:
    values = {str(k): v for k, v in row._mapping.items()}
    for name in _TIMES:
        values[name] = _utc(values[name])
    return OutboxRow(**values)


def idempotency_key(
    alert_id: str, event: str, sequence: int, channel: str, recipient: str | None = None
) -> str:
    """Unique per notification and the same on every attempt to send it."""
    parts = [alert_id, event, str(sequence), channel, recipient or ""]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def webhook_body(event: str, alert: Mapping[str, Any]) -> str:
    """`{"event": "alert.firing"|"alert.resolved", "alert": {...}}`; a
    re-notification (an expiring certificate crossing another threshold) is
    `alert.firing` with `"renotify": true`."""
    payload: dict[str, Any] = {
        "event": "alert.firing" if event == "alert.renotify" else event,
        "alert": dict(alert),
    }
    if event == "alert.renotify":
        payload["renotify"] = True
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str).decode()


def enqueue(
    conn: Connection,
    event: str,
    alert: Mapping[str, Any],
    channels: Sequence[Channel],
    *,
    now: dt.datetime | None = None,
    sequence: int | None = None,
) -> list[int]:
    """Write the notifications of one alert event, one row per channel whose
    scope matches (per recipient for e-mail), in the caller's transaction.
    `sequence` numbers the alert's events (default: one more than the last
    one in the outbox); it makes each event's idempotency keys new. Returns
    the ids of the rows written."""
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}; one of {', '.join(EVENTS)}")
    alert_id = str(alert["id"])
    domain = alert.get("domain") or None
    owners = _owners(conn, domain) if domain and channel_owners_needed(channels) else []
    targets = [c for c in channels if c.scope.matches(domain, owners)]
    if not targets:
        return []
    moment = _db(now or dt.datetime.now(dt.UTC))
    if sequence is None:
        last = conn.execute(sa.select(sa.func.max(_O.sequence)).where(_O.alert_id == alert_id))
        sequence = (last.scalar() or 0) + 1
    body = webhook_body(event, alert)
    rows = []
    for channel in targets:
        recipients: Sequence[str | None] = (
            channel.to if isinstance(channel, EmailChannel) else [None]
        )
        digest = isinstance(channel, EmailChannel) and channel.digest
        for recipient in recipients:
            rows.append(
                {
                    "idempotency_key": idempotency_key(
                        alert_id, event, sequence, channel.name, recipient
                    ),
                    "alert_id": alert_id,
                    "event": event,
                    "sequence": sequence,
                    "domain": domain,
                    "channel": channel.name,
                    "recipient": recipient,
                    "body": body,
                    "digest_day": moment.date() if digest else None,
                    "state": PENDING,
                    "created_at": moment,
                    # a digest is sent once the UTC day it collects is over
                    "due_at": _next_midnight(moment) if digest else moment,
                    "attempts": 0,
                }
            )
    result = conn.execute(outbox.insert().returning(_O.id), rows)
    return [int(i) for i in result.scalars()]


def _next_midnight(moment: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(moment.date() + dt.timedelta(days=1), dt.time())


def _owners(conn: Connection, domain: str) -> list[str]:
    query = (
        sa.select(users.c.email)
        .join(domain_owners, domain_owners.c.user_id == users.c.id)
        .where(domain_owners.c.domain == domain.lower())
    )
    return list(conn.execute(query).scalars())


def _claimable(now: dt.datetime, channels: Collection[str]) -> list[sa.ColumnElement[bool]]:
    return [
        _O.state == PENDING,
        _O.due_at <= now,
        sa.or_(_O.lease_until.is_(None), _O.lease_until <= now),
        _O.channel.in_(sorted(channels)),
    ]


def _take(
    conn: Connection,
    where: list[sa.ColumnElement[bool]],
    owner: str,
    now: dt.datetime,
    until: dt.datetime,
    limit: int | None,
) -> list[OutboxRow]:
    due = sa.select(_O.id).where(*where).order_by(_O.due_at, _O.id)
    if limit is not None:
        due = due.limit(limit)
    due = due.with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer
    claim = (
        outbox.update()
        .where(_O.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=until, attempts=_O.attempts + 1, last_attempt_at=now)
        .returning(*outbox.c)
    )
    return [_row(r) for r in conn.execute(claim)]


def claim(
    store: Store,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    channels: Collection[str],
) -> list[OutboxRow]:
    """Lease up to `limit` due rows of `channels` to `owner` (oldest due
    first), counting an attempt for each. A digest row brings the other
    due rows of its digest (channel, recipient, day) with it, so the day's
    events go out in one message. Rows in order of due time."""
    if not channels or limit < 1:
        return []
    moment, until = _db(now), _db(now + lease)
    with store.lease_write() as conn:
        rows = _take(conn, _claimable(moment, channels), owner, moment, until, limit)
        digests = {(r.channel, r.recipient, r.digest_day) for r in rows if r.digest_day}
        for channel, recipient, day in sorted(digests, key=str):
            where = [
                *_claimable(moment, [channel]),
                _O.recipient == recipient,
                _O.digest_day == day,
            ]
            rows += _take(conn, where, owner, moment, until, None)
    return sorted(rows, key=lambda r: (r.due_at, r.id))


def mark_delivered(store: Store, ids: Sequence[int], now: dt.datetime) -> int:
    """Record rows as delivered (whoever holds their lease now: they were
    sent). Returns the number of rows changed."""
    if not ids:
        return 0
    with store.lease_write() as conn:
        result = conn.execute(
            outbox.update()
            .where(_O.id.in_(list(ids)), _O.state == PENDING)
            .values(
                state=DELIVERED,
                delivered_at=_db(now),
                lease_owner=None,
                lease_until=None,
                last_error=None,
            )
        )
        return int(result.rowcount)


def mark_retry(
    store: Store, ids: Sequence[int], owner: str, due_at: dt.datetime, error: str
) -> int:
    """Record a failed attempt and the next one, for rows `owner` still
    holds (a row whose lease was taken over is left to its new holder)."""
    return _release(store, ids, owner, state=PENDING, due_at=_db(due_at), error=error)


def mark_failed(store: Store, ids: Sequence[int], owner: str, error: str) -> int:
    """Give rows up: a permanent failure (or retries exhausted), kept with
    the error for `tlsrpt alerts outbox`."""
    return _release(store, ids, owner, state=FAILED, due_at=None, error=error)


def _release(
    store: Store,
    ids: Sequence[int],
    owner: str,
    *,
    state: str,
    due_at: dt.datetime | None,
    error: str,
) -> int:
    if not ids:
        return 0
    values: dict[str, Any] = {
        "state": state,
        "lease_owner": None,
        "lease_until": None,
        "last_error": error[:MAX_ERROR_CHARS],
    }
    if due_at is not None:
        values["due_at"] = due_at
    with store.lease_write() as conn:
        result = conn.execute(
            outbox.update()
            .where(_O.id.in_(list(ids)), _O.state == PENDING, _O.lease_owner == owner)
            .values(**values)
        )
        return int(result.rowcount)


def list_rows(
    conn: Connection, *, states: Collection[str] = (PENDING, FAILED), limit: int = 100
) -> list[OutboxRow]:
    """Rows in `states`, newest first."""
    query = (
        sa.select(outbox).where(_O.state.in_(sorted(states))).order_by(_O.id.desc()).limit(limit)
    )
    return [_row(r) for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class Backlog:
    """Pending and failed rows of one channel."""

    channel: str
    pending: int
    failed: int
    oldest_pending: dt.datetime | None  # created_at of the oldest pending row


def backlog(conn: Connection) -> list[Backlog]:
    """Per channel, from the (state, due_at) index: delivered rows are not read."""
    pending = sa.case((_O.state == PENDING, 1), else_=0)
    query = (
        sa.select(
            _O.channel,
            sa.func.sum(pending),
            sa.func.sum(1 - pending),
            sa.func.min(sa.case((_O.state == PENDING, _O.created_at), else_=None)),
        )
        .where(_O.state.in_([PENDING, FAILED]))
        .group_by(_O.channel)
        .order_by(_O.channel)
    )
    return [
        Backlog(channel, int(p), int(f), _utc(oldest))
        for channel, p, f, oldest in conn.execute(query)
    ]
