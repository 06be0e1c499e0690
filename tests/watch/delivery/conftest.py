"""Fixtures of the delivery tests: the notification servers of notifylab
(a webhook receiver, SMTP submission with STARTTLS or implicit TLS), a
clock the test moves, alerts to notify."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tlsrpt.store.engine import Store, open_store

# The notification servers are in notifylab (the watch tests use them too).
sys.path.insert(0, str(Path(__file__).parent))

from notifylab import (
    SECRET,
    Clock,
    SmtpServer,
    WebhookServer,
    WebhookTarget,
    smtp_implicit_server,
    smtp_starttls_server,
)

__all__ = ["SECRET", "Clock", "SmtpServer", "WebhookServer", "WebhookTarget", "deliver_once"]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'tlsrpt.sqlite3'}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def webhook() -> Iterator[WebhookTarget]:
    server = WebhookServer()
    yield server.target
    if server.target.hold is not None:
        server.target.hold.set()
    server.stop()


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def smtp_starttls(ca: trustme.CA) -> Iterator[SmtpServer]:
    with smtp_starttls_server(ca) as server:
        yield server


@pytest.fixture
def smtp_implicit(ca: trustme.CA) -> Iterator[SmtpServer]:
    with smtp_implicit_server(ca) as server:
        yield server


def make_alert(alert_id: int = 1, **changes: Any) -> dict[str, Any]:
    """An alert in the shape of `tlsrpt alerts list --json`, with detail fields."""
    alert: dict[str, Any] = {
        "id": alert_id,
        "domain": "example.com",
        "rule": "mx-certificate-expiring",
        "severity": "warning",
        "state": "firing",
        "subject": "mx1.example.com",
        "summary": "certificate of mx1.example.com expires in 29 days",
        "first_seen": "2026-12-07T09:00:00Z",
        "last_seen": "2026-12-07T09:00:00Z",
        "resolved_at": None,
        "explanation": "Senders that enforce MTA-STS refuse an expired certificate.",
        "fix": "Renew the certificate of mx1.example.com and reload the MTA.",
        "evidence": {"not_after": "2027-01-05T00:00:00Z", "issuer": "Example CA"},
    }
    alert.update(changes)
    return alert


@pytest.fixture
def alert_factory() -> Callable[..., dict[str, Any]]:
    return make_alert


def deliver_once(store: Store, channels: Any, clock: Any, **kw: Any) -> int:
    """One deliverer pass in an event loop of its own; the rows handled."""
    import asyncio

    from tlsrpt.watch.deliver import Deliverer

    async def one() -> int:
        deliverer = Deliverer(store, channels, clock=clock, **kw)
        try:
            return await deliverer.deliver_due()
        finally:
            await deliverer.aclose()

    return asyncio.run(one())
