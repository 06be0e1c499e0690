"""Webhooks to a real HTTP server on loopback: the signature, the
idempotency key, what is retried (with backoff, on an injected clock) and
what is failed for good."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import orjson

from tlsrpt.channels import Channel, parse_channels
from tlsrpt.store import outbox
from tlsrpt.store.engine import Store
from tlsrpt.watch.deliver import RetryPolicy

from .conftest import SECRET, Clock, WebhookServer, WebhookTarget, deliver_once


def _channels(url: str) -> tuple[Channel, ...]:
    return parse_channels([{"type": "webhook", "name": "ops", "url": url, "secret": SECRET}])


def _enqueue(
    store: Store, clock: Clock, alert: dict[str, Any], event: str = "alert.firing"
) -> None:
    with store.write() as conn:
        outbox.enqueue(conn, event, alert, _channels("http://127.0.0.1:9/"), now=clock())


def _rows(store: Store) -> list[outbox.OutboxRow]:
    with store.read() as conn:
        return sorted(outbox.list_rows(conn, states=outbox.STATES), key=lambda r: r.id)


def test_signed_post_with_idempotency_key(
    store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    alert = alert_factory(summary="certificate of <mx1> expires\r\nin 29 days")
    _enqueue(store, clock, alert)
    assert deliver_once(store, _channels(webhook.url), clock) == 1
    (request,) = webhook.requests
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.signature_ok()
    assert not request.signature_ok("another secret")
    assert orjson.loads(request.body) == {"event": "alert.firing", "alert": alert}
    (row,) = _rows(store)
    assert request.headers["idempotency-key"] == row.idempotency_key
    assert (row.state, row.attempts, row.delivered_at) == ("delivered", 1, clock())
    assert deliver_once(store, _channels(webhook.url), clock) == 0
    assert len(webhook.requests) == 1


def test_resolved_and_renotify_events(
    store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    alert = alert_factory()
    _enqueue(store, clock, alert, "alert.renotify")
    _enqueue(store, clock, {**alert, "state": "resolved"}, "alert.resolved")
    assert deliver_once(store, _channels(webhook.url), clock) == 2
    bodies = [orjson.loads(r.body) for r in webhook.requests]
    # sent concurrently: in either order
    assert sorted((b["event"], b.get("renotify") or False) for b in bodies) == [
        ("alert.firing", True),
        ("alert.resolved", False),
    ]
    assert all(r.signature_ok() for r in webhook.requests)
    assert len(set(webhook.keys())) == 2


def test_client_error_fails_for_good(
    store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    webhook.status = 410
    _enqueue(store, clock, alert_factory())
    deliver_once(store, _channels(webhook.url), clock)
    (row,) = _rows(store)
    assert (row.state, row.last_error) == ("failed", "HTTP 410 Gone")
    clock.advance(days=1)
    assert deliver_once(store, _channels(webhook.url), clock) == 0
    assert len(webhook.requests) == 1


def test_server_errors_back_off_exponentially_to_one_hour(
    store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    webhook.status = 503
    start = clock()
    _enqueue(store, clock, alert_factory())
    attempts_at = []
    for _ in range(10 * 60):  # ten hours, minute by minute
        if deliver_once(store, _channels(webhook.url), clock):
            attempts_at.append(int((clock() - start).total_seconds() // 60))
        clock.advance(minutes=1)
    assert attempts_at[:9] == [0, 1, 3, 7, 15, 31, 63, 123, 183]
    gaps = {b - a for a, b in itertools.pairwise(attempts_at[6:])}
    assert gaps == {60}
    (row,) = _rows(store)
    assert row.state == "pending" and row.last_error == "HTTP 503 Service Unavailable"
    assert len(webhook.requests) == row.attempts == len(attempts_at)


def test_retry_after_and_408_429_are_retried(
    store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    webhook.statuses = [429, 408]
    webhook.headers = {"Retry-After": "600"}
    _enqueue(store, clock, alert_factory())
    deliver_once(store, _channels(webhook.url), clock)
    (row,) = _rows(store)
    assert row.state == "pending" and row.due_at == clock() + dt.timedelta(minutes=10)
    clock.advance(minutes=10)
    deliver_once(store, _channels(webhook.url), clock)
    clock.advance(minutes=10)
    deliver_once(store, _channels(webhook.url), clock)
    assert [r.headers["idempotency-key"] for r in webhook.requests] == [row.idempotency_key] * 3
    assert _rows(store)[0].state == "delivered"


def test_target_down_for_an_hour_gets_everything_when_back(
    store: Store, webhook_server: WebhookServer, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    target = webhook_server.target
    channels = _channels(target.url)
    webhook_server.stop()  # connections refused from now on
    for alert_id in (1, 2, 3):
        _enqueue(store, clock, alert_factory(alert_id))
    for _ in range(60):
        deliver_once(store, channels, clock)
        clock.advance(minutes=1)
    rows = _rows(store)
    assert {r.state for r in rows} == {"pending"}
    assert all("ConnectError" in (r.last_error or "") for r in rows)
    assert {r.attempts for r in rows} == {6}  # at 0, 1, 3, 7, 15, 31 minutes: not 60
    webhook_server.start()
    for _ in range(60):
        deliver_once(store, channels, clock)
        clock.advance(minutes=1)
    rows = _rows(store)
    assert {r.state for r in rows} == {"delivered"}
    assert sorted(target.keys()) == sorted(r.idempotency_key for r in rows)
    assert all(r.signature_ok() for r in target.requests)


def test_retries_end_after_seven_days(
    store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    webhook.status = 500
    _enqueue(store, clock, alert_factory())
    start = clock()
    policy = RetryPolicy(cap=dt.timedelta(days=1))  # fewer attempts; the same end
    while (row := _rows(store)[0]).state == "pending":
        clock.now = max(clock.now, row.due_at)
        deliver_once(store, _channels(webhook.url), clock, policy=policy)
    assert row.state == "failed"
    assert row.last_error == (
        "gave up after 7 days of retries; last error: HTTP 500 Internal Server Error"
    )
    assert clock() - start >= dt.timedelta(days=7)
    assert clock() - start < dt.timedelta(days=8)
    sent = len(webhook.requests)
    clock.advance(days=1)
    deliver_once(store, _channels(webhook.url), clock)
    assert len(webhook.requests) == sent == row.attempts


def test_rows_of_channels_not_configured_here_are_left_alone(
    store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    _enqueue(store, clock, alert_factory())
    other = parse_channels(
        [{"type": "webhook", "name": "elsewhere", "url": webhook.url, "secret": SECRET}]
    )
    assert deliver_once(store, other, clock) == 0
    assert webhook.requests == [] and _rows(store)[0].attempts == 0
