"""Certificate analysis of a served chain: pure functions over DER bytes.

The STARTTLS probe hands over the chain exactly as the server sent it; this
module says whether it is expired, whether its DNS-IDs cover the MX host name
and whether it chains to a trust anchor — three separate answers, not one
opaque "SSL error".
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.verification import (
    Criticality,
    DNSName,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)


def _utc(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as every JSON timestamp of tlsrpt."""
    return f"{moment.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


@dataclass(frozen=True, slots=True)
class CertificateSummary:
    """What a person needs to recognise one certificate of a chain."""

    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str
    spki_sha256: str

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "dns_names": list(self.dns_names),
            "not_before": _utc(self.not_before),
            "not_after": _utc(self.not_after),
            "sha256": self.sha256,
            "spki_sha256": self.spki_sha256,
        }


@dataclass(frozen=True, slots=True)
class ChainAnalysis:
    """Expiry, name and trust of a served chain, each judged on its own."""

    leaf: CertificateSummary | None
    chain: tuple[CertificateSummary, ...]
    days_left: int | None
    expired: bool
    not_yet_valid: bool
    name_matches: bool
    trusted: bool
    trust_error: str | None
    errors: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        return {
            "leaf": self.leaf.to_json() if self.leaf else None,
            "chain": [c.to_json() for c in self.chain],
            "days_left": self.days_left,
            "expired": self.expired,
            "not_yet_valid": self.not_yet_valid,
            "name_matches": self.name_matches,
            "trusted": self.trusted,
            "trust_error": self.trust_error,
            "errors": list(self.errors),
        }


def spki_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(name.lower() for name in san.value.get_values_for_type(x509.DNSName))


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:  # undecodable attribute values
        return repr(name)


def summarize(cert: x509.Certificate) -> CertificateSummary:
    return _summary(cert.public_bytes(Encoding.DER))


@functools.lru_cache(maxsize=1024)
def _summary(der: bytes) -> CertificateSummary:
    """Cached by DER: a bulk run meets the same intermediates on MX after MX."""
    cert = x509.load_der_x509_certificate(der)
    return CertificateSummary(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        dns_names=dns_names(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=hashlib.sha256(der).hexdigest(),
        spki_sha256=hashlib.sha256(spki_der(cert)).hexdigest(),
    )


def dns_id_matches(pattern: str, host: str) -> bool:
    """RFC 6125 §6.4 DNS-ID match as RFC 8461 §3.3/§4.2 require it.

    Case-insensitive; a wildcard is only a whole left-most `*` label and stands
    for exactly one label (no partial-label wildcards, no CN fallback).
    """
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if not pattern or not host:
        return False
    if pattern.startswith("*."):
        suffix = pattern[2:]
        head, dot, rest = host.partition(".")
        return bool(head) and bool(dot) and rest == suffix and "*" not in suffix
    return "*" not in pattern and pattern == host


def _verification_name(names: Sequence[str], host: str) -> str | None:
    """A name the leaf (with DNS-IDs `names`) is valid for, so trust can be
    judged apart from the name."""
    if any(dns_id_matches(n, host) for n in names):
        return host
    for name in names:
        concrete = "x" + name[1:] if name.startswith("*.") else name
        if "*" not in concrete:
            return concrete
    return None


def _verify_time(chain: Sequence[x509.Certificate], now: dt.datetime) -> dt.datetime:
    """`now`, or a moment at which every certificate of the chain was valid."""
    start = max(c.not_valid_before_utc for c in chain)
    end = min(c.not_valid_after_utc for c in chain)
    if start <= now <= end or start > end:
        return now
    return end if now > end else start


# Permissive for end-entity extensions, except that a DNS-ID needs a SAN.
_EE_POLICY = ExtensionPolicy.permit_all().require_present(
    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
)


# Trust anchors: certificates, or a Store built from them once per run
# (building one from a full system bundle costs more than a verification).
Anchors = Sequence[x509.Certificate] | Store


def verify_chain(
    chain: Sequence[x509.Certificate],
    anchors: Anchors,
    name: str,
    at: dt.datetime,
) -> str | None:
    """RFC 5280 path validation of `chain` (leaf first) for DNS name `name`.

    Returns None when valid, else the verifier's reason. The end-entity
    extension profile is permissive (real MX certificates are often not
    CA/B-Forum clean); CA certificates get the WebPKI profile.
    """
    if not isinstance(anchors, Store):
        if not anchors:
            return "no trust anchors"
        anchors = Store(list(anchors))
    builder = (
        PolicyBuilder()
        .store(anchors)
        .time(at)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=_EE_POLICY,
        )
    )
    try:
        verifier = builder.build_server_verifier(DNSName(name))
        verifier.verify(chain[0], list(chain[1:]))
    except (VerificationError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


def parse_chain(chain_der: Sequence[bytes]) -> tuple[list[x509.Certificate], list[str]]:
    certs: list[x509.Certificate] = []
    errors: list[str] = []
    for index, der in enumerate(chain_der):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            errors.append(f"certificate {index} of the chain does not parse: {exc}")
    return certs, errors


def analyze_chain(
    chain_der: Sequence[bytes],
    host: str,
    anchors: Anchors,
    now: dt.datetime,
) -> ChainAnalysis:
    """Judge expiry, name (RFC 8461 §4.2) and trust of a served chain separately."""
    certs, errors = parse_chain(chain_der)
    if not certs:
        return ChainAnalysis(
            leaf=None,
            chain=(),
            days_left=None,
            expired=False,
            not_yet_valid=False,
            name_matches=False,
            trusted=False,
            trust_error="no certificate was served" if not chain_der else "; ".join(errors),
            errors=tuple(errors),
        )
    leaf = certs[0]
    days_left = (leaf.not_valid_after_utc - now).days
    expired = leaf.not_valid_after_utc < now
    not_yet_valid = leaf.not_valid_before_utc > now
    summaries = tuple(summarize(c) for c in certs)
    names = summaries[0].dns_names
    name_matches = any(dns_id_matches(n, host) for n in names)
    verification_name = _verification_name(names, host)
    if verification_name is None:
        trust_error: str | None = "the certificate carries no DNS name (subjectAltName)"
    else:
        trust_error = verify_chain(certs, anchors, verification_name, _verify_time(certs, now))
    return ChainAnalysis(
        leaf=summaries[0],
        chain=summaries,
        days_left=days_left,
        expired=expired,
        not_yet_valid=not_yet_valid,
        name_matches=name_matches,
        trusted=trust_error is None,
        trust_error=trust_error,
        errors=tuple(errors),
    )
