"""Apprise channels, with a `json://` URL posting to the loopback HTTP
server: the rendered notification arrives; a failing service is retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tlsrpt.channels import Channel, parse_channels
from tlsrpt.store import outbox
from tlsrpt.store.engine import Store

from .conftest import Clock, WebhookTarget, deliver_once


def _channels(port: int) -> tuple[Channel, ...]:
    return parse_channels(
        [{"type": "apprise", "name": "chat", "url": f"json://127.0.0.1:{port}/hook"}]
    )


def _deliver(store: Store, webhook: WebhookTarget, clock: Clock, alert: dict[str, Any]) -> None:
    channels = _channels(webhook.port)
    with store.write() as conn:
        outbox.enqueue(conn, "alert.firing", alert, channels, now=clock())
    deliver_once(store, channels, clock, public_url="https://tlsrpt.example.net")


def _rows(store: Store) -> list[outbox.OutboxRow]:
    with store.read() as conn:
        return outbox.list_rows(conn, states=outbox.STATES)


def test_apprise_json_service_gets_the_rendered_alert(
    sqlite_store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    webhook.status = 200
    _deliver(sqlite_store, webhook, clock, alert_factory())
    (request,) = webhook.requests
    assert request.path == "/hook"
    body = orjson.loads(request.body)
    assert body["title"] == (
        "[tlsrpt] FIRING: example.com: certificate of mx1.example.com expires in 29 days"
    )
    message = body["message"]
    assert "Renew the certificate of mx1.example.com" in message
    assert "not_after: 2027-01-05T00:00:00Z" in message
    assert "https://tlsrpt.example.net/domains/example.com" in message
    assert [r.state for r in _rows(sqlite_store)] == ["delivered"]


def test_failing_service_is_retried_with_its_error(
    sqlite_store: Store, webhook: WebhookTarget, clock: Clock, alert_factory: Callable[..., Any]
) -> None:
    webhook.status = 500
    _deliver(sqlite_store, webhook, clock, alert_factory())
    (row,) = _rows(sqlite_store)
    assert row.state == "pending" and row.attempts == 1
    assert "500" in (row.last_error or "")
    webhook.status = 200
    clock.advance(minutes=1)
    deliver_once(sqlite_store, _channels(webhook.port), clock)
    assert [r.state for r in _rows(sqlite_store)] == ["delivered"]
    assert len(webhook.requests) == 2
