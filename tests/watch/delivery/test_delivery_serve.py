"""`tlsrpt serve` delivers notifications in-process when [[notify]]
channels are set: the app started under uvicorn on loopback sends a row
enqueued in its database to the webhook."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from tlsrpt.channels import parse_channels
from tlsrpt.settings import Settings
from tlsrpt.store import outbox
from tlsrpt.store.engine import Store
from tlsrpt.web.app import create_app

from .conftest import SECRET, WebhookTarget


def test_serve_runs_the_deliverer(
    sqlite_store: Store, webhook: WebhookTarget, alert_factory: Callable[..., Any]
) -> None:
    channels = parse_channels(
        [{"type": "webhook", "name": "ops", "url": webhook.url, "secret": SECRET}]
    )
    settings = Settings(notify=channels, public_url="https://tlsrpt.example.net")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, sqlite_store), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with sqlite_store.write() as conn:
            outbox.enqueue(conn, "alert.firing", alert_factory(), channels)
        assert webhook.arrived.wait(60), "nothing was delivered"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sqlite_store.read() as conn:
                (row,) = outbox.list_rows(conn, states=outbox.STATES)
            if row.state == "delivered":
                break
            time.sleep(0.05)
        assert row.state == "delivered"
        assert webhook.requests[0].signature_ok()
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
    assert not thread.is_alive()
