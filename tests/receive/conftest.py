"""Shared fixtures: a loopback DNS server and a DKIM key; the HTTP server."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dkim
import dns.message
import dns.rcode
import dns.rrset
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.serving import Running, serve, servers
from tests.serving import report_json as build_report_json

from tlsrpt.receive.dkim_verify import txt_lookup
from tlsrpt.receive.settings import HttpSettings
from tlsrpt.settings import Settings


class LoopbackDns:
    """An authoritative UDP DNS server on 127.0.0.1: TXT records from a dict;
    names under `servfail` answer SERVFAIL; others NXDOMAIN."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}
        self.servfail: set[str] = set()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            answer = dns.message.make_response(query)
            answer.flags |= 1 << 10  # AA
            name = query.question[0].name.to_text().lower()
            if name in self.servfail:
                answer.set_rcode(dns.rcode.SERVFAIL)
            elif name in self.records:
                txt = self.records[name]
                chunks = " ".join(f'"{txt[i : i + 255]}"' for i in range(0, len(txt), 255))
                answer.answer.append(dns.rrset.from_text(name, 300, "IN", "TXT", chunks))
            else:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(answer.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(der).decode()


@pytest.fixture
def dns_server() -> Iterator[LoopbackDns]:
    server = LoopbackDns()
    yield server
    server.close()


def report_mail(submitter: str = "mail.ru") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"tlsrpt@{submitter}"
    msg["To"] = "reports@example.org"
    msg["Subject"] = f"Report Domain: example.org Submitter: {submitter} Report-ID: <1@{submitter}>"
    msg["TLS-Report-Domain"] = "example.org"
    msg["TLS-Report-Submitter"] = submitter
    msg.set_content("report\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def signed(message: bytes, pem: bytes, domain: str, selector: str = "mail") -> bytes:
    header = dkim.sign(
        message,
        selector.encode(),
        domain.encode(),
        pem,
        include_headers=[b"from", b"to", b"subject", b"tls-report-domain", b"tls-report-submitter"],
    )
    return header + message


def publish(
    server: LoopbackDns, domain: str, pub: str, selector: str = "mail", services: str = ""
) -> None:
    s = f"; s={services}" if services else ""
    server.records[f"{selector}._domainkey.{domain}."] = f"v=DKIM1; k=rsa{s}; p={pub}"


def lookup(server: LoopbackDns) -> Any:
    return txt_lookup(["127.0.0.1"], server.port, timeout=2.0)


@pytest.fixture
def kit() -> SimpleNamespace:
    """Helpers to build, sign and publish keys for report mails."""
    return SimpleNamespace(report_mail=report_mail, signed=signed, publish=publish, lookup=lookup)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    """The HTTP receiver as `tlsrpt serve` runs it (tests.serving), on SQLite."""
    database = f"sqlite:///{tmp_path / 'http.sqlite3'}"
    yield from serve(Settings(database_url=database, http=HttpSettings(max_body_bytes=64 * 1024)))


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start a server with extra settings (at most one per test)."""
    yield from servers(f"sqlite:///{tmp_path / 'http.sqlite3'}")


@pytest.fixture
def report_json() -> Callable[..., bytes]:
    """Builds a minimal RFC 8460 §4.4 report (JSON bytes)."""
    return build_report_json
