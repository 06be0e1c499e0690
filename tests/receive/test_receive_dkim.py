"""DKIM verdicts of mailed reports (R8460-3-u/v/w) against a real DNS server on loopback."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import dkim
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tlsrpt.receive.dkim_verify import aligned, normalize_key_services, txt_lookup, verify


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


@pytest.mark.parametrize("services", ["", "email", "*", "email:tlsrpt", "tlsrpt"])
def test_ordinary_and_tlsrpt_keys_pass(
    dns_server: LoopbackDns, key: tuple[bytes, str], services: str
) -> None:
    # R8460-3-v: s=tlsrpt is not required; s=email:tlsrpt must work too.
    pem, pub = key
    publish(dns_server, "mail.ru", pub, services=services)
    v = verify(signed(report_mail(), pem, "mail.ru"), lookup(dns_server))
    assert (v.result, v.domain, v.selector, v.aligned) == ("pass", "mail.ru", "mail", True)
    assert v.acceptable


def test_require_tlsrpt_service(dns_server: LoopbackDns, key: tuple[bytes, str]) -> None:
    pem, pub = key
    publish(dns_server, "mail.ru", pub, services="email")
    v = verify(
        signed(report_mail(), pem, "mail.ru"), lookup(dns_server), require_tlsrpt_service=True
    )
    assert v.result == "fail"
    assert "tlsrpt" in (v.reason or "")


def test_child_domain_signer_is_aligned(dns_server: LoopbackDns, key: tuple[bytes, str]) -> None:
    # R8460-3-w: Mail.ru signs with d=corp.mail.ru, Submitter mail.ru.
    pem, pub = key
    publish(dns_server, "corp.mail.ru", pub)
    v = verify(signed(report_mail("mail.ru"), pem, "corp.mail.ru"), lookup(dns_server))
    assert v.acceptable
    assert v.domain == "corp.mail.ru"


def test_unaligned_signer_not_acceptable(dns_server: LoopbackDns, key: tuple[bytes, str]) -> None:
    pem, pub = key
    publish(dns_server, "attacker.example", pub)
    v = verify(signed(report_mail("mail.ru"), pem, "attacker.example"), lookup(dns_server))
    assert v.result == "pass"
    assert not v.aligned
    assert not v.acceptable
    assert "not aligned" in (v.reason or "")
    # a contact-info domain supplied by the caller aligns it
    v = verify(
        signed(report_mail("mail.ru"), pem, "attacker.example"),
        lookup(dns_server),
        contact_domains=["attacker.example"],
    )
    assert v.acceptable


def test_unsigned_is_none(dns_server: LoopbackDns) -> None:
    # R8460-3-u
    v = verify(report_mail(), lookup(dns_server))
    assert v.result == "none"
    assert not v.acceptable


def test_tampered_is_fail(dns_server: LoopbackDns, key: tuple[bytes, str]) -> None:
    pem, pub = key
    publish(dns_server, "mail.ru", pub)
    msg = signed(report_mail(), pem, "mail.ru").replace(b"example.org", b"example.net")
    v = verify(msg, lookup(dns_server))
    assert v.result == "fail"
    assert not v.acceptable


def test_missing_key_is_fail(dns_server: LoopbackDns, key: tuple[bytes, str]) -> None:
    v = verify(signed(report_mail(), key[0], "mail.ru"), lookup(dns_server))
    assert v.result == "fail"


def test_dns_servfail_is_temperror(dns_server: LoopbackDns, key: tuple[bytes, str]) -> None:
    dns_server.servfail.add("mail._domainkey.mail.ru.")
    v = verify(signed(report_mail(), key[0], "mail.ru"), lookup(dns_server))
    assert v.result == "temperror"
    assert v.domain == "mail.ru"


def test_dns_timeout_is_temperror(key: tuple[bytes, str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # never answers
        silent.bind(("127.0.0.1", 0))
        dnsfunc = txt_lookup(["127.0.0.1"], silent.getsockname()[1], timeout=0.5)
        v = verify(signed(report_mail(), key[0], "mail.ru"), dnsfunc)
    assert v.result == "temperror"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (b"v=DKIM1; s=email:tlsrpt; p=AB", b"v=DKIM1; s=*; p=AB"),
        (b"v=DKIM1; s=tlsrpt; p=AB", b"v=DKIM1; s=tlsrpt; p=AB"),
        (b"v=DKIM1;s=email;p=AB", b"v=DKIM1;s=email;p=AB"),
        (b"v=DKIM1; s=other:email; p=AB", b"v=DKIM1; s=email; p=AB"),
        (b"v=DKIM1; s=other; p=AB", b"v=DKIM1; s=other; p=AB"),
        (b"v=DKIM1; p=AB", b"v=DKIM1; p=AB"),
    ],
)
def test_normalize_key_services(record: bytes, expected: bytes) -> None:
    assert normalize_key_services(record) == expected


@pytest.mark.parametrize(
    ("signer", "ids", "ok"),
    [
        ("mail.ru", ["mail.ru"], True),
        ("corp.mail.ru", ["mail.ru"], True),
        ("mail.ru", ["corp.mail.ru"], True),
        ("MAIL.RU.", ["mail.ru"], True),
        ("evilmail.ru", ["mail.ru"], False),
        ("ru", ["mail.ru"], False),
        ("mail.ru", [], False),
    ],
)
def test_alignment(signer: str, ids: list[str], ok: bool) -> None:
    assert aligned(signer, ids) is ok
