"""TLSA matching (RFC 6698, RFC 7671, RFC 7672 §3) against lab chains."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from checklab.pki import CertKind, LabPki
from checklab.zones import Tlsa

from tlsrpt.check.tlsa import TlsaRecord, apply_digest_agility, match_chain, unusable_reason

NOW = dt.datetime.now(dt.UTC)
HOST = "mx.dane.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("pki"))


def record(spec: Tlsa, chain: list[bytes]) -> TlsaRecord:
    usage, selector, mtype, data = spec.rdata_text(chain).split()
    return TlsaRecord(int(usage), int(selector), int(mtype), bytes.fromhex(data))


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ee_all_selectors_and_matching_types(pki: LabPki, selector: int, mtype: int) -> None:
    chain = pki.chain_der(HOST, CertKind.VALID)
    result = match_chain([record(Tlsa(3, selector, mtype), chain)], chain, [HOST], NOW)
    assert result.authenticated and result.matched


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ta_all_selectors_and_matching_types(pki: LabPki, selector: int, mtype: int) -> None:
    chain = pki.chain_der(HOST, CertKind.VALID)
    rr = record(Tlsa(2, selector, mtype, "intermediate"), chain)
    result = match_chain([rr], chain, [HOST], NOW)
    assert result.authenticated, result.reason


def test_dane_ee_ignores_expiry_and_name(pki: LabPki) -> None:
    """RFC 7671 §5.1; docs/conformance.md#dane-ee: DANE-EE authenticates an expired, wrongly named
    leaf."""
    for kind in (CertKind.EXPIRED, CertKind.WRONG_NAME, CertKind.UNTRUSTED):
        chain = pki.chain_der(HOST, kind)
        assert match_chain([record(Tlsa(3, 1, 1), chain)], chain, [HOST], NOW).authenticated


@pytest.mark.parametrize("kind", [CertKind.EXPIRED, CertKind.WRONG_NAME])
def test_dane_ta_checks_expiry_and_name(pki: LabPki, kind: CertKind) -> None:
    """RFC 7671 §5.2, RFC 7672 §3.2.2; docs/conformance.md#dane-ta: DANE-TA enforces names and
    dates."""
    chain = pki.chain_der(HOST, kind)
    result = match_chain([record(Tlsa(2, 0, 1, "intermediate"), chain)], chain, [HOST], NOW)
    assert not result.authenticated
    assert "DANE-TA(2) anchor but fails" in result.reason


def test_mismatch(pki: LabPki) -> None:
    chain = pki.chain_der(HOST, CertKind.VALID)
    result = match_chain([record(Tlsa(3, 1, 1, "garbage"), chain)], chain, [HOST], NOW)
    assert not result.authenticated and not result.matched and result.usable


@pytest.mark.parametrize(
    ("rr", "reason"),
    [
        (TlsaRecord(1, 1, 1, bytes(32)), "PKIX"),
        (TlsaRecord(0, 0, 1, bytes(32)), "PKIX"),
        (TlsaRecord(4, 1, 1, bytes(32)), "usage"),
        (TlsaRecord(3, 7, 1, bytes(32)), "selector"),
        (TlsaRecord(3, 1, 9, bytes(32)), "matching type"),
        (TlsaRecord(3, 1, 1, bytes(31)), "31 bytes"),
        (TlsaRecord(3, 1, 2, bytes(32)), "needs 64"),
        (TlsaRecord(3, 0, 0, b"junk"), "not a DER certificate"),
        (TlsaRecord(3, 1, 0, b"junk"), "not a DER public key"),
    ],
)
def test_unusable_records(rr: TlsaRecord, reason: str) -> None:
    """RFC 7672 §3.1, RFC 6698 §2.1, §2.1.3; docs/conformance.md#usable-tlsa-records."""
    why = unusable_reason(rr)
    assert why is not None and reason in why


def test_only_unusable_records(pki: LabPki) -> None:
    chain = pki.chain_der(HOST, CertKind.VALID)
    leaf_spki = record(Tlsa(3, 1, 1), chain).data
    result = match_chain([TlsaRecord(1, 1, 1, leaf_spki)], chain, [HOST], NOW)
    assert not result.authenticated and not result.usable and len(result.unusable) == 1


def test_digest_agility(pki: LabPki) -> None:
    """RFC 7671 §9; docs/conformance.md#digest-agility: with SHA2-256 and SHA2-512 both published,
    only SHA2-512 counts."""
    chain = pki.chain_der(HOST, CertKind.VALID)
    good256 = record(Tlsa(3, 1, 1), chain)
    bad512 = TlsaRecord(3, 1, 2, hashlib.sha512(b"other").digest())
    assert apply_digest_agility([good256, bad512]) == [bad512]
    assert not match_chain([good256, bad512], chain, [HOST], NOW).authenticated
    full = TlsaRecord(3, 1, 0, bytes(3))
    assert full in apply_digest_agility([full, good256])


def test_text_is_one_token() -> None:
    assert TlsaRecord(3, 1, 1, b"\xab\xcd").text() == "3 1 1 ABCD"
