"""The outbox deliverer (asyncio): claims due notifications, sends them,
records what happened.

One pass (`deliver_due`) leases up to `batch_size` due rows of the
configured channels (tlsrpt.store.outbox: `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several deliverers share the outbox; the write transaction
on SQLite), sends at most `concurrency` at a time, and records each
outcome as soon as it is known:

- delivered: the row is done;
- to be retried: the error is kept and the next attempt is due after an
  exponential backoff, 1 min doubling to 1 h at most (a `Retry-After` of
  the receiver is honoured as the least delay), across restarts, since
  the schedule is in the row; a row still failing 7 days after it was
  written is given up (failed, with the last error);
- failed for good (a webhook's 4xx other than 408/429, an SMTP 5xx): kept
  with the error, not retried.

A deliverer that dies holding a lease loses nothing: the lease (5 min)
runs out and the row is sent again, by any deliverer, with the same
idempotency key. Delivery is therefore at least once; receivers dedupe
by `Idempotency-Key` (webhook) or Message-ID (e-mail).

Rows of a digest channel are due at the end of their UTC day and go out
as one message per recipient. Rows of a channel that is not configured in
this process are left alone (another process may have it). The clock is
a parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import httpx
import orjson
import sqlalchemy as sa

from tlsrpt import metrics
from tlsrpt.channels import AppriseChannel, Channel, EmailChannel, WebhookChannel
from tlsrpt.store import outbox as db
from tlsrpt.store.engine import Store
from tlsrpt.store.outbox import OutboxRow
from tlsrpt.store.url import StoreError
from tlsrpt.watch import senders
from tlsrpt.watch.mail import alert_message, digest_message
from tlsrpt.watch.render import render_alert
from tlsrpt.watch.senders import Outcome

log = logging.getLogger("tlsrpt.deliver")
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first: dt.timedelta = dt.timedelta(minutes=1)
    cap: dt.timedelta = dt.timedelta(hours=1)
    give_up_after: dt.timedelta = dt.timedelta(days=7)
    lease: dt.timedelta = dt.timedelta(minutes=5)

    def delay(self, attempts: int, retry_after_s: float | None = None) -> dt.timedelta:
        """Before the next attempt, after `attempts` failed ones (>= 1)."""
        exponent = min(max(attempts, 1) - 1, 30)
        backoff = min(self.cap, self.first * (2**exponent))
        if retry_after_s is not None:
            backoff = max(backoff, dt.timedelta(seconds=retry_after_s))
        return backoff


def default_owner() -> str:
    """The lease holder's name: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class _Unit:
    """What one message carries: one row, or a digest's rows."""

    channel: Channel
    rows: tuple[OutboxRow, ...]


class Deliverer:
    def __init__(
        self,
        store: Store,
        channels: Sequence[Channel],
        *,
        public_url: str | None = None,
        clock: Clock = utc_now,
        policy: RetryPolicy | None = None,
        owner: str | None = None,
        batch_size: int = 50,
        concurrency: int = 8,
    ) -> None:
        self.store = store
        self.channels = {c.name: c for c in channels}
        self.public_url = public_url
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.owner = owner or default_owner()
        self.batch_size = batch_size
        self._limit = asyncio.Semaphore(concurrency)
        self._client: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        """Deliver now rather than at the next poll (after an enqueue)."""
        self._wake.set()

    async def deliver_due(self) -> int:
        """One pass: claim, send and record; returns the rows handled."""
        if not self.channels:
            return 0
        rows = await asyncio.to_thread(
            db.claim,
            self.store,
            self.owner,
            self.clock(),
            self.policy.lease,
            self.batch_size,
            self.channels.keys(),
        )
        if rows:
            await asyncio.gather(*(self._deliver(unit) for unit in self._units(rows)))
        return len(rows)

    def _units(self, rows: Sequence[OutboxRow]) -> list[_Unit]:
        digests: dict[tuple[str, str | None, dt.date], list[OutboxRow]] = {}
        units = []
        for row in rows:
            if row.digest_day is not None:
                digests.setdefault((row.channel, row.recipient, row.digest_day), []).append(row)
            else:
                units.append(_Unit(self.channels[row.channel], (row,)))
        for (name, _, _), group in digests.items():
            units.append(_Unit(self.channels[name], tuple(group)))
        return units

    async def _deliver(self, unit: _Unit) -> None:
        async with self._limit:
            try:
                outcome = await self._send(unit)
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                outcome = Outcome.fail(f"cannot make the notification: {exc}")
            except Exception as exc:  # a fault of ours: kept, tried again later
                log.exception("sending to %s", unit.channel.name)
                outcome = Outcome.retry(f"{type(exc).__name__}: {exc}")
        metrics.NOTIFICATIONS.labels(
            unit.channel.type,
            "delivered" if outcome.delivered else "failed" if outcome.permanent else "retry",
        ).inc(len(unit.rows))
        await asyncio.to_thread(self._record, unit, outcome)

    async def _send(self, unit: _Unit) -> Outcome:
        channel, row = unit.channel, unit.rows[0]
        if isinstance(channel, WebhookChannel):
            if self._client is None:
                self._client = httpx.AsyncClient(follow_redirects=False)
            return await senders.send_webhook(
                self._client, channel, row.body, row.idempotency_key, row.payload["event"]
            )
        if isinstance(channel, EmailChannel):
            return await senders.send_email(channel, row.recipient or "", self._mail(unit))
        assert isinstance(channel, AppriseChannel)
        rendered = render_alert(row.payload, self.public_url)
        return await senders.send_apprise(channel, rendered.subject, rendered.text)

    def _mail(self, unit: _Unit) -> EmailMessage:
        channel, row = unit.channel, unit.rows[0]
        assert isinstance(channel, EmailChannel)
        common = {"sender": channel.sender, "recipient": row.recipient or ""}
        if row.digest_day is None:
            return alert_message(
                row.payload,
                key=row.idempotency_key,
                public_url=self.public_url,
                now=self.clock(),
                **common,
            )
        return digest_message(
            [r.payload for r in unit.rows],
            day=row.digest_day,
            keys=[r.idempotency_key for r in unit.rows],
            public_url=self.public_url,
            now=self.clock(),
            **common,
        )

    def _record(self, unit: _Unit, outcome: Outcome) -> None:
        ids = [r.id for r in unit.rows]
        now = self.clock()
        what = f"{len(ids)} notification(s) to {unit.channel.name}"
        if outcome.delivered:
            db.mark_delivered(self.store, ids, now)
            log.info("delivered %s (outbox %s)", what, ids)
            return
        error = outcome.error or "failed"
        oldest = min(r.created_at for r in unit.rows)
        if not outcome.permanent and now - oldest >= self.policy.give_up_after:
            days = self.policy.give_up_after / dt.timedelta(days=1)
            outcome = Outcome.fail(f"gave up after {days:g} days of retries; last error: {error}")
            error = outcome.error or error
        if outcome.permanent:
            db.mark_failed(self.store, ids, self.owner, error)
            log.warning("failed for good: %s (outbox %s): %s", what, ids, error)
            return
        attempts = max(r.attempts for r in unit.rows)
        due = now + self.policy.delay(attempts, outcome.retry_after_s)
        db.mark_retry(self.store, ids, self.owner, due, error)
        log.warning("%s failed (attempt %d), next at %s: %s", what, attempts, due, error)

    async def drain(self) -> int:
        """Pass after pass until nothing is due (what `tlsrpt watch --once`
        runs before it exits); the rows handled."""
        total = 0
        while handled := await self.deliver_due():
            total += handled
        return total

    async def run(self, stop: asyncio.Event, poll: dt.timedelta = dt.timedelta(seconds=5)) -> None:
        """Deliver until `stop` is set: a full batch is followed by the next
        at once, otherwise the deliverer sleeps `poll` (or until woken)."""
        pause = poll.total_seconds()
        while not stop.is_set():
            try:
                handled = await self.deliver_due()
            except (StoreError, sa.exc.DBAPIError) as exc:
                log.error("outbox unavailable: %s", exc)
                handled = 0
            except Exception:  # never let the loop die: the rows stay, leased
                log.exception("outbox delivery pass")
                handled = 0
            if handled >= self.batch_size:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await _first(stop.wait(), self._wake.wait())


async def _first(*waits: object) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def background(
    store: Store, channels: Sequence[Channel], public_url: str | None = None
) -> contextlib.AbstractAsyncContextManager[None]:
    """A deliverer running for the block when there are channels (what
    `tlsrpt serve` runs beside the receiver); without channels, nothing."""
    if not channels:
        return contextlib.nullcontext()
    return running(Deliverer(store, channels, public_url=public_url))


@contextlib.asynccontextmanager
async def running(deliverer: Deliverer, poll: dt.timedelta | None = None) -> AsyncIterator[None]:
    """The deliverer as a background task for the block's duration."""
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop, poll or dt.timedelta(seconds=5)))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await deliverer.aclose()
