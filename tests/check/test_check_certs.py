"""Certificate analysis: expiry, name (RFC 8461 §4.2) and trust, each on its own."""

from __future__ import annotations

import datetime as dt

import pytest
from checklab.pki import EXPIRING_DAYS_LEFT, CertKind, LabPki
from cryptography import x509

from tlsrpt.check.certs import analyze_chain, dns_id_matches

NOW = dt.datetime.now(dt.UTC)
HOST = "mx.certs.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def anchors(pki: LabPki) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(pki.ca.cert_pem.bytes())]


@pytest.mark.parametrize(
    ("pattern", "host", "ok"),
    [
        ("mx.example.com", "MX.Example.COM.", True),
        ("*.example.com", "mx.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("m*.example.com", "mx.example.com", False),
        ("mx.*.com", "mx.example.com", False),
        ("*", "com", False),
        ("", "mx.example.com", False),
    ],
)
def test_dns_id_matching(pattern: str, host: str, ok: bool) -> None:
    """RFC 8461 §3.3, §4.1; docs/conformance.md#policy-host-certificate, #mx-pattern-matching: a
    wildcard is one whole left-most label."""
    assert dns_id_matches(pattern, host) is ok


def test_valid(pki: LabPki, anchors: list[x509.Certificate]) -> None:
    result = analyze_chain(pki.chain_der(HOST, CertKind.VALID), HOST, anchors, NOW)
    assert result.trusted and result.name_matches and not result.expired
    assert result.days_left is not None and result.days_left > 30
    assert len(result.chain) == 2


def test_expired_is_only_expired(pki: LabPki, anchors: list[x509.Certificate]) -> None:
    result = analyze_chain(pki.chain_der(HOST, CertKind.EXPIRED), HOST, anchors, NOW)
    assert result.expired and result.name_matches and result.trusted
    assert result.days_left is not None and result.days_left < 0


def test_expiring(pki: LabPki, anchors: list[x509.Certificate]) -> None:
    result = analyze_chain(pki.chain_der(HOST, CertKind.EXPIRING), HOST, anchors, NOW)
    assert not result.expired and result.days_left == EXPIRING_DAYS_LEFT


def test_wrong_name_is_only_wrong_name(pki: LabPki, anchors: list[x509.Certificate]) -> None:
    result = analyze_chain(pki.chain_der(HOST, CertKind.WRONG_NAME), HOST, anchors, NOW)
    assert not result.name_matches and result.trusted and not result.expired


def test_untrusted_is_only_untrusted(pki: LabPki, anchors: list[x509.Certificate]) -> None:
    result = analyze_chain(pki.chain_der(HOST, CertKind.UNTRUSTED), HOST, anchors, NOW)
    assert not result.trusted and result.trust_error
    assert result.name_matches and not result.expired


def test_no_certificate() -> None:
    result = analyze_chain([], HOST, [], NOW)
    assert result.leaf is None and not result.trusted
    assert result.trust_error == "no certificate was served"


def test_garbage_certificate(anchors: list[x509.Certificate]) -> None:
    result = analyze_chain([b"\x30\x03junk"], HOST, anchors, NOW)
    assert result.leaf is None and result.errors
