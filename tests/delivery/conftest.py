"""The notification lab: a loopback HTTP server that receives webhooks (and
Apprise's json:// posts), a loopback SMTP submission server with STARTTLS
or implicit TLS (trustme certificates), a clock the test moves, and a
database on each backend."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tlsrpt.store.engine import Store, open_store

SECRET = "webhook-secret-0123456789"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'tlsrpt.sqlite3'}")
    try:
        yield opened
    finally:
        opened.close()


class Clock:
    """An aware UTC clock that moves only when told."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def signature_ok(self, secret: str = SECRET) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-tlsrpt-signature", ""), expected)


@dataclass
class WebhookTarget:
    """What the HTTP server saw, and how it answers: `status` (or the next
    of `statuses`), after waiting for `hold` when it is set."""

    requests: list[Received] = field(default_factory=list)
    status: int = 204
    statuses: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def keys(self) -> list[str]:
        return [r.headers.get("idempotency-key", "") for r in self.requests]


def _handler(target: WebhookTarget) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with target.lock:
                target.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = target.statuses.pop(0) if target.statuses else target.status
            target.arrived.set()
            if target.hold is not None:
                target.hold.wait(30)
            self.send_response(status)
            for name, value in target.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class WebhookServer:
    """`http.server` in a thread on 127.0.0.1; `stop()` closes the port
    (connections refused), `start()` opens it again on the same port."""

    def __init__(self) -> None:
        self.target = WebhookTarget()
        self.server: http.server.ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.target.port), _handler(self.target)
        )
        server.daemon_threads = True
        self.target.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.server = server

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


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


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.box.refuse:
            return self.box.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.box.messages.append(message)  # type: ignore[arg-type]
        self.box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 stored"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"p@ss")
    return AuthResult(success=ok, handled=False)  # refused: 535


@dataclass
class SmtpServer:
    box: Mailbox
    port: int


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tls_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def smtp_starttls(ca: trustme.CA) -> Iterator[SmtpServer]:
    """Submission with STARTTLS and AUTH (after TLS only): user alerts, p@ss."""
    box = Mailbox()
    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=_tls_context(ca),
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    controller.start()
    yield SmtpServer(box, controller.port)
    controller.stop()


@pytest.fixture
def smtp_implicit(ca: trustme.CA) -> Iterator[SmtpServer]:
    """Submission over implicit TLS (smtps), no AUTH."""
    box = Mailbox()
    controller = Controller(
        _Handler(box), hostname="127.0.0.1", port=free_port(), ssl_context=_tls_context(ca)
    )
    controller.start()
    yield SmtpServer(box, controller.port)
    controller.stop()


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
