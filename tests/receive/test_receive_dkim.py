"""DKIM verdicts of mailed reports (RFC 8460 §3; docs/conformance.md#dkim-required,
#dkim-service-type, #dkim-alignment) against a real DNS server on loopback."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tlsrpt.receive.dkim_verify import aligned, normalize_key_services, txt_lookup, verify


@pytest.mark.parametrize("services", ["", "email", "*", "email:tlsrpt", "tlsrpt"])
def test_ordinary_and_tlsrpt_keys_pass(
    kit: Any, dns_server: Any, key: tuple[bytes, str], services: str
) -> None:
    # RFC 8460 §3; docs/conformance.md#dkim-service-type: s=tlsrpt is not required; s=email:tlsrpt
    # must work too.
    pem, pub = key
    kit.publish(dns_server, "mail.ru", pub, services=services)
    v = verify(kit.signed(kit.report_mail(), pem, "mail.ru"), kit.lookup(dns_server))
    assert (v.result, v.domain, v.selector, v.aligned) == ("pass", "mail.ru", "mail", True)
    assert v.acceptable


def test_require_tlsrpt_service(kit: Any, dns_server: Any, key: tuple[bytes, str]) -> None:
    pem, pub = key
    kit.publish(dns_server, "mail.ru", pub, services="email")
    v = verify(
        kit.signed(kit.report_mail(), pem, "mail.ru"),
        kit.lookup(dns_server),
        require_tlsrpt_service=True,
    )
    assert v.result == "fail"
    assert "tlsrpt" in (v.reason or "")


def test_child_domain_signer_is_aligned(kit: Any, dns_server: Any, key: tuple[bytes, str]) -> None:
    # RFC 8460 §3; docs/conformance.md#dkim-alignment: Mail.ru signs with d=corp.mail.ru, Submitter
    # mail.ru.
    pem, pub = key
    kit.publish(dns_server, "corp.mail.ru", pub)
    v = verify(kit.signed(kit.report_mail("mail.ru"), pem, "corp.mail.ru"), kit.lookup(dns_server))
    assert v.acceptable
    assert v.domain == "corp.mail.ru"


def test_unaligned_signer_not_acceptable(kit: Any, dns_server: Any, key: tuple[bytes, str]) -> None:
    pem, pub = key
    kit.publish(dns_server, "attacker.example", pub)
    v = verify(
        kit.signed(kit.report_mail("mail.ru"), pem, "attacker.example"), kit.lookup(dns_server)
    )
    assert v.result == "pass"
    assert not v.aligned
    assert not v.acceptable
    assert "not aligned" in (v.reason or "")
    # a contact-info domain supplied by the caller aligns it
    v = verify(
        kit.signed(kit.report_mail("mail.ru"), pem, "attacker.example"),
        kit.lookup(dns_server),
        contact_domains=["attacker.example"],
    )
    assert v.acceptable


def test_unsigned_is_none(kit: Any, dns_server: Any) -> None:
    # RFC 8460 §3; docs/conformance.md#dkim-required
    v = verify(kit.report_mail(), kit.lookup(dns_server))
    assert v.result == "none"
    assert not v.acceptable


def test_tampered_is_fail(kit: Any, dns_server: Any, key: tuple[bytes, str]) -> None:
    pem, pub = key
    kit.publish(dns_server, "mail.ru", pub)
    msg = kit.signed(kit.report_mail(), pem, "mail.ru").replace(b"example.org", b"example.net")
    v = verify(msg, kit.lookup(dns_server))
    assert v.result == "fail"
    assert not v.acceptable


def test_missing_key_is_fail(kit: Any, dns_server: Any, key: tuple[bytes, str]) -> None:
    v = verify(kit.signed(kit.report_mail(), key[0], "mail.ru"), kit.lookup(dns_server))
    assert v.result == "fail"


def test_dns_servfail_is_temperror(kit: Any, dns_server: Any, key: tuple[bytes, str]) -> None:
    dns_server.servfail.add("mail._domainkey.mail.ru.")
    v = verify(kit.signed(kit.report_mail(), key[0], "mail.ru"), kit.lookup(dns_server))
    assert v.result == "temperror"
    assert v.domain == "mail.ru"


def test_dns_timeout_is_temperror(kit: Any, key: tuple[bytes, str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # never answers
        silent.bind(("127.0.0.1", 0))
        dnsfunc = txt_lookup(["127.0.0.1"], silent.getsockname()[1], timeout=0.5)
        v = verify(kit.signed(kit.report_mail(), key[0], "mail.ru"), dnsfunc)
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
def test_normalize_key_services(kit: Any, record: bytes, expected: bytes) -> None:
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
def test_alignment(kit: Any, signer: str, ids: list[str], ok: bool) -> None:
    assert aligned(signer, ids) is ok
