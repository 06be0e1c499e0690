"""Nothing is lost when a deliverer dies, and on PostgreSQL several
deliverers share the outbox without sending a row twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tlsrpt.channels import Channel, parse_channels
from tlsrpt.store import outbox
from tlsrpt.store.engine import Store, open_store
from tlsrpt.watch.deliver import Deliverer, RetryPolicy

from .conftest import SECRET, Clock, WebhookTarget, deliver_once

LEASE = RetryPolicy().lease

# A deliverer in a process of its own, on the real clock.
DELIVERER = """
import asyncio, sys
from tlsrpt.store.engine import open_store
from tlsrpt.channels import parse_channels
from tlsrpt.watch.deliver import Deliverer

store = open_store(sys.argv[1])
channels = parse_channels([{"type": "webhook", "name": "ops", "url": sys.argv[2],
                            "secret": sys.argv[3]}])
asyncio.run(Deliverer(store, channels, owner="doomed").deliver_due())
"""


def _channels(url: str) -> tuple[Channel, ...]:
    return parse_channels([{"type": "webhook", "name": "ops", "url": url, "secret": SECRET}])


def _enqueue(store: Store, alert: dict[str, Any], now: dt.datetime) -> None:
    with store.write() as conn:
        outbox.enqueue(conn, "alert.firing", alert, _channels("http://127.0.0.1:9/"), now=now)


def _rows(store: Store) -> list[outbox.OutboxRow]:
    with store.read() as conn:
        return outbox.list_rows(conn, states=outbox.STATES, limit=1000)


def test_claimed_but_never_sent_is_sent_once_the_lease_runs_out(
    store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    _enqueue(store, alert_factory(), clock())
    (claimed,) = outbox.claim(store, "died-here", clock(), LEASE, 10, ["ops"])
    clock.advance(minutes=4)
    assert deliver_once(store, _channels(webhook.url), clock) == 0
    clock.advance(minutes=1)
    assert deliver_once(store, _channels(webhook.url), clock) == 1
    assert webhook.keys() == [claimed.idempotency_key]
    (row,) = _rows(store)
    assert (row.state, row.attempts) == ("delivered", 2)


def test_deliverer_killed_while_sending_loses_nothing(
    store: Store, db_url: str, webhook: WebhookTarget, alert_factory: Callable[..., Any]
) -> None:
    """The process is killed (SIGKILL) while the receiver holds its request:
    the row stays leased, then another deliverer sends it again with the
    same idempotency key, which lets the receiver see one notification."""
    import threading

    alert = alert_factory()
    _enqueue(store, alert, dt.datetime.now(dt.UTC))
    webhook.hold = threading.Event()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", DELIVERER, db_url, webhook.url, SECRET], env=env
    )
    try:
        assert webhook.arrived.wait(60), "the deliverer never sent"
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        webhook.hold.set()
    (row,) = _rows(store)
    assert (row.state, row.lease_owner, row.attempts) == ("pending", "doomed", 1)

    later = Clock(dt.datetime.now(dt.UTC) + LEASE + dt.timedelta(seconds=1))
    webhook.hold = None
    assert deliver_once(store, _channels(webhook.url), later) == 1
    assert webhook.keys() == [row.idempotency_key] * 2  # at least once ...
    assert len({r.body for r in webhook.requests}) == 1  # ... the same notification
    assert all(r.signature_ok() for r in webhook.requests)
    (row,) = _rows(store)
    assert (row.state, row.attempts) == ("delivered", 2)


@pytest.mark.postgres
def test_two_deliverers_on_postgresql_send_each_row_once(
    postgres_url: str, webhook: WebhookTarget, alert_factory: Callable[..., Any]
) -> None:
    now = dt.datetime.now(dt.UTC)
    stores = [open_store(postgres_url), open_store(postgres_url)]
    try:
        for alert_id in range(40):
            _enqueue(stores[0], alert_factory(alert_id), now)

        async def both() -> list[int]:
            deliverers = [
                Deliverer(s, _channels(webhook.url), batch_size=3, owner=f"d{n}")
                for n, s in enumerate(stores)
            ]

            async def drain(d: Deliverer) -> int:
                try:
                    return await d.drain()
                finally:
                    await d.aclose()

            return list(await asyncio.gather(*(drain(d) for d in deliverers)))

        counts = asyncio.run(both())
        assert sum(counts) == 40
        per_key = Counter(webhook.keys())
        assert len(per_key) == 40 and set(per_key.values()) == {1}
        assert {r.state for r in _rows(stores[0])} == {"delivered"}
    finally:
        for s in stores:
            s.close()
