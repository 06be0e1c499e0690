"""Match a served certificate chain against TLSA records (DANE for SMTP).

Pure functions over DER bytes. RFC 7672 §3.1: SMTP uses DANE-TA(2) and
DANE-EE(3) only; RFC 6698 §2.1 / RFC 7671 §2: selectors Cert(0) and SPKI(1),
matching types Full(0), SHA2-256(1) and SHA2-512(2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, load_der_public_key

from tlsrpt.check.certs import parse_chain, spki_der, verify_chain

DANE_TA, DANE_EE = 2, 3
SELECTOR_CERT, SELECTOR_SPKI = 0, 1
MATCH_FULL, MATCH_SHA256, MATCH_SHA512 = 0, 1, 2
_DIGEST_LENGTH = {MATCH_SHA256: 32, MATCH_SHA512: 64}


@dataclass(frozen=True, slots=True)
class TlsaRecord:
    usage: int
    selector: int
    mtype: int
    data: bytes

    def text(self) -> str:
        """Presentation form with the data as one token (RFC 8460 §4.5)."""
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex().upper()}"


@dataclass(frozen=True, slots=True)
class TlsaMatch:
    """The outcome of matching one chain against one TLSA RRset."""

    usable: tuple[TlsaRecord, ...]
    unusable: tuple[tuple[TlsaRecord, str], ...]
    matched: tuple[TlsaRecord, ...]
    authenticated: bool
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "usable": [r.text() for r in self.usable],
            "unusable": [{"record": r.text(), "reason": why} for r, why in self.unusable],
            "matched": [r.text() for r in self.matched],
            "authenticated": self.authenticated,
            "reason": self.reason,
        }


def unusable_reason(record: TlsaRecord) -> str | None:
    """Why an SMTP client must ignore this record, or None if it is usable."""
    if record.usage in (0, 1):
        return "PKIX-TA(0)/PKIX-EE(1) usages are not used for SMTP (RFC 7672 §3.1.3)"
    if record.usage not in (DANE_TA, DANE_EE):
        return f"unknown certificate usage {record.usage}"
    if record.selector not in (SELECTOR_CERT, SELECTOR_SPKI):
        return f"unknown selector {record.selector}"
    if record.mtype not in (MATCH_FULL, MATCH_SHA256, MATCH_SHA512):
        return f"unknown matching type {record.mtype}"
    expected = _DIGEST_LENGTH.get(record.mtype)
    if expected is not None and len(record.data) != expected:
        return f"digest is {len(record.data)} bytes, matching type {record.mtype} needs {expected}"
    if record.mtype == MATCH_FULL:
        try:
            if record.selector == SELECTOR_CERT:
                x509.load_der_x509_certificate(record.data)
            else:
                load_der_public_key(record.data)
        except ValueError:
            what = "certificate" if record.selector == SELECTOR_CERT else "public key"
            return f"association data is not a DER {what}"
    return None


def apply_digest_agility(records: Sequence[TlsaRecord]) -> list[TlsaRecord]:
    """RFC 7671 §9: per usage and selector, use only the strongest digest published.

    Full(0) records are not digests and always stay.
    """
    strongest: dict[tuple[int, int], int] = {}
    for r in records:
        if r.mtype != MATCH_FULL:
            key = (r.usage, r.selector)
            strongest[key] = max(strongest.get(key, 0), r.mtype)
    return [
        r for r in records if r.mtype == MATCH_FULL or r.mtype == strongest[(r.usage, r.selector)]
    ]


def _selected(cert: x509.Certificate, selector: int) -> bytes:
    return cert.public_bytes(Encoding.DER) if selector == SELECTOR_CERT else spki_der(cert)


def record_matches(record: TlsaRecord, cert: x509.Certificate) -> bool:
    content = _selected(cert, record.selector)
    if record.mtype == MATCH_SHA256:
        return hashlib.sha256(content).digest() == record.data
    if record.mtype == MATCH_SHA512:
        return hashlib.sha512(content).digest() == record.data
    return content == record.data


def _trust_anchor(record: TlsaRecord, chain: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The certificate a DANE-TA record designates: served (RFC 7671 §5.2) or `2 0 0`."""
    for cert in chain[1:]:
        if record_matches(record, cert):
            return cert
    if record.selector == SELECTOR_CERT and record.mtype == MATCH_FULL:
        return x509.load_der_x509_certificate(record.data)
    return None


def match_chain(
    records: Sequence[TlsaRecord],
    chain_der: Sequence[bytes],
    reference_names: Sequence[str],
    now: dt.datetime,
) -> TlsaMatch:
    """Authenticate a served chain with a (DNSSEC-validated) TLSA RRset.

    DANE-EE(3): the leaf matches; no name or date check (RFC 7671 §5.1).
    DANE-TA(2): the chain leads to the matching trust anchor, the leaf names
    one of `reference_names` and no certificate is expired (RFC 7671 §5.2,
    RFC 7672 §3.2).
    """
    unusable = tuple((r, why) for r in records if (why := unusable_reason(r)) is not None)
    usable = tuple(apply_digest_agility([r for r in records if unusable_reason(r) is None]))
    chain, _ = parse_chain(chain_der)

    def result(matched: Sequence[TlsaRecord], ok: bool, reason: str) -> TlsaMatch:
        return TlsaMatch(usable, unusable, tuple(matched), ok, reason)

    if not usable:
        return result((), False, "no usable TLSA record")
    if not chain:
        return result((), False, "no certificate was served")
    ee = [r for r in usable if r.usage == DANE_EE and record_matches(r, chain[0])]
    if ee:
        return result(ee, True, "the server certificate matches a DANE-EE(3) record")
    ta_failures: list[str] = []
    for record in (r for r in usable if r.usage == DANE_TA):
        anchor = _trust_anchor(record, chain)
        if anchor is None:
            continue
        error: str | None = "no reference name to check the certificate against"
        for name in reference_names:
            error = verify_chain(chain, [anchor], name, now)
            if error is None:
                return result(
                    [record], True, f"the chain leads to the DANE-TA(2) anchor, valid for {name}"
                )
        ta_failures.append(f"{record.text()[:24]}…: {error}")
    if ta_failures:
        return result(
            (), False, "the chain has the DANE-TA(2) anchor but fails: " + "; ".join(ta_failures)
        )
    return result((), False, "no usable TLSA record matches the served chain")
