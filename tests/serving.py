"""The HTTP server of the web and receiver tests: a real uvicorn server on
127.0.0.1 (ephemeral port) running the app, configured as `tlsrpt serve`
configures it; and a minimal report to post to it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import uvicorn

from tlsrpt.serve.listener import uvicorn_config
from tlsrpt.settings import Settings, load_settings
from tlsrpt.web.app import create_app


class Running:
    def __init__(self, base_url: str, settings: Settings) -> None:
        self.base_url = base_url
        self.settings = settings


def serve(settings: Settings) -> Iterator[Running]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # as `tlsrpt serve` runs it: its h11 protocol with the connection limits
    config = uvicorn_config(create_app(settings), settings, "warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "server failed to start"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def servers(db_url: str) -> Iterator[Callable[..., Running]]:
    """The body of a `make_server` fixture: start a server with extra
    settings (flat keys, as on the command line) on `db_url` (at most one per test); stopped when it ends."""
    gens: list[Iterator[Running]] = []

    def start(**kw: Any) -> Running:
        gen = serve(load_settings(None, {"database_url": db_url, **kw}, env={}))
        gens.append(gen)
        return next(gen)

    yield start
    for gen in gens:
        for _ in gen:
            pass


def report_json(report_id: str = "2026-11-01T00:00:00Z_example.com", **extra: Any) -> bytes:
    """A minimal RFC 8460 §4.4 report."""
    report = {
        "organization-name": "Example Sender",
        "date-range": {
            "start-datetime": "2026-11-01T00:00:00Z",
            "end-datetime": "2026-11-01T23:59:59Z",
        },
        "contact-info": "tlsrpt@sender.example",
        "report-id": report_id,
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-string": [
                        "version: STSv1",
                        "mode: enforce",
                        "mx: mx.example.com",
                        "max_age: 86400",
                    ],
                    "policy-domain": "example.com",
                    "mx-host": ["mx.example.com"],
                },
                "summary": {"total-successful-session-count": 10, "total-failure-session-count": 1},
                "failure-details": [
                    {
                        "result-type": "certificate-expired",
                        "sending-mta-ip": "192.0.2.1",
                        "receiving-mx-hostname": "mx.example.com",
                        "failed-session-count": 1,
                    }
                ],
            }
        ],
        **extra,
    }
    return orjson.dumps(report)
