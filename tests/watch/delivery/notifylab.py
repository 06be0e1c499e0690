"""Servers that receive notifications, on loopback, for the delivery tests
and the watch's end-to-end tests: an HTTP server that receives webhooks
(and Apprise's json:// posts) and checks their signature, an SMTP
submission server (aiosmtpd) with STARTTLS and AUTH or implicit TLS
(trustme certificates), and a clock that moves only when told."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SECRET = "webhook-secret-0123456789"


class Clock:
    """An aware UTC clock that moves only when told."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tls_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@contextlib.contextmanager
def smtp_starttls_server(ca: trustme.CA) -> Iterator[SmtpServer]:
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
    try:
        yield SmtpServer(box, controller.port)
    finally:
        controller.stop()


@contextlib.contextmanager
def smtp_implicit_server(ca: trustme.CA) -> Iterator[SmtpServer]:
    """Submission over implicit TLS (smtps), no AUTH."""
    box = Mailbox()
    controller = Controller(
        _Handler(box), hostname="127.0.0.1", port=free_port(), ssl_context=_tls_context(ca)
    )
    controller.start()
    try:
        yield SmtpServer(box, controller.port)
    finally:
        controller.stop()
