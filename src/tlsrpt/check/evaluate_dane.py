"""DANE findings for one MX host: TLSA lookup state and the chain match
(RFC 7672 §2, RFC 7671 §5)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tlsrpt.check.certs import parse_chain, spki_der
from tlsrpt.check.facts import MxHostFacts
from tlsrpt.check.findings import DANE_SENDERS, Finding, Severity, senders
from tlsrpt.check.resolver import DnsAnswer, DnsStatus
from tlsrpt.check.smtp_probe import SmtpProbe
from tlsrpt.check.tlsa import TlsaRecord, match_chain


@dataclass(frozen=True, slots=True)
class DaneState:
    """Does DANE apply to this MX for this domain? (RFC 7672 §2.2)

    It applies when the MX lookup and the TLSA lookup are both DNSSEC-secure
    and the TLSA RRset is not empty: STARTTLS is then mandatory, and
    authentication too when a record is usable. `base` is the TLSA base
    domain: the MX host, or its CNAME expansion (RFC 7672 §2.2.3).
    """

    applies: bool
    mx_secure: bool
    tlsa: DnsAnswer | None
    host: str = ""
    base: str = ""

    @property
    def in_use(self) -> bool:
        """DANE applies, or the domain publishes TLSA records behind a signed MX
        that fail DNSSEC validation (bogus): it uses DANE and fails it, as DANE
        senders defer its mail (RFC 7672 §2.1)."""
        return self.applies or bool(self.mx_secure and self.tlsa is not None and self.tlsa.bogus)

    @property
    def records(self) -> tuple[TlsaRecord, ...]:
        return tuple(self.tlsa.records) if self.tlsa and self.tlsa.status == DnsStatus.OK else ()

    @property
    def reference_names(self) -> tuple[str, ...]:
        """Names a DANE-TA(2) server certificate may carry (RFC 7672 §3.2.2): the
        TLSA base domain and the MX host name as it was before CNAME expansion."""
        return tuple(dict.fromkeys(n for n in (self.base, self.host) if n))


def dane_state(host_facts: MxHostFacts, mx_secure: bool) -> DaneState:
    base, tlsa = host_facts.tlsa_base()
    applies = bool(
        mx_secure
        and tlsa is not None
        and tlsa.status == DnsStatus.OK
        and tlsa.secure
        and tlsa.records
    )
    return DaneState(applies, mx_secure, tlsa, host_facts.host, base)


def _tlsa_json(state: DaneState) -> dict[str, Any] | None:
    if state.tlsa is None:
        return None
    return {
        **state.tlsa.to_json(),
        "base": state.base or None,  # the TLSA base domain (RFC 7672 §2.2.3)
        "records": [r.text() for r in state.records],
        "mx_secure": state.mx_secure,
        "dane": state.applies,
    }


def evaluate_dane(
    host: str, state: DaneState, probes: Sequence[SmtpProbe] | None, now: dt.datetime
) -> tuple[list[Finding], dict[str, Any] | None]:
    tlsa = state.tlsa
    section = _tlsa_json(state)
    name = f"_25._tcp.{state.base or host}"
    if tlsa is None:
        return [], section
    if tlsa.failed:
        if not state.mx_secure:  # senders do not look for TLSA behind an unsigned MX
            return [], section
        return [_dnssec_invalid(name, tlsa)], section
    if tlsa.status != DnsStatus.OK or not tlsa.records:
        return [], section
    records = [r.text() for r in tlsa.records]
    if not tlsa.secure or not state.mx_secure:
        return [_insecure(host, name, tlsa, state.mx_secure, records)], section
    findings: list[Finding] = []
    mismatched: list[dict[str, Any]] = []
    matches: list[dict[str, Any]] = []
    for probe in probes or ():
        if not probe.tls_ok:
            continue
        # RFC 7672 §3.2.2: DANE-TA(2) checks the names; DANE-EE(3) does not.
        result = match_chain(tlsa.records, probe.chain, state.reference_names or [host], now)
        matches.append({"address": probe.address, "sni": probe.host, **result.to_json()})
        if not result.usable:
            continue
        if not result.authenticated:
            mismatched.append({"address": probe.address, "reason": result.reason})
    if section is not None:
        section["matches"] = matches
    first = matches[0] if matches else None
    if first is not None and not first["usable"]:
        findings.append(
            Finding(
                "dane-tlsa-unusable",
                Severity.WARNING,
                f"none of the TLSA records at {name} is usable for SMTP: "
                + "; ".join(u["reason"] for u in first["unusable"])
                + "; senders require TLS but cannot authenticate the server (RFC 7672 §2.2)",
                {"name": name, "records": records, "unusable": first["unusable"]},
                f"publish a DANE-EE record: {name}. IN TLSA 3 1 1 <SHA-256 of the server's "
                "public key>",
            )
        )
    if mismatched:
        findings.append(
            Finding(
                "dane-tlsa-mismatch",
                Severity.ERROR,
                f"no TLSA record at {name} authenticates the certificate chain {host} serves "
                f"({', '.join(m['address'] for m in mismatched)}: {mismatched[0]['reason']}); "
                "DANE senders do not deliver (RFC 7672 §3)",
                {
                    "name": name,
                    "records": records,
                    "addresses": mismatched,
                    "senders": senders([DANE_SENDERS]),
                },
                _tlsa_fix(name, probes or ()),
            )
        )
    return findings, section


def _dnssec_invalid(name: str, tlsa: DnsAnswer) -> Finding:
    """The TLSA lookup behind a signed MX failed: DANE senders defer."""
    what = (
        "fails DNSSEC validation (bogus)" if tlsa.bogus else f"fails ({tlsa.error or tlsa.status})"
    )
    return Finding(
        "dane-dnssec-invalid",
        Severity.ERROR,
        f"the TLSA lookup of {name} {what}; DANE senders must not treat that as 'no "
        "TLSA' and defer mail to this MX (RFC 7672 §2.1)",
        {
            "name": name,
            "dns": tlsa.to_json(),
            "records_without_validation": [r.text() for r in tlsa.records],
            "senders": senders([DANE_SENDERS]),
        },
        "re-sign the zone (or fix its delegation/DS) so the TLSA RRset validates",
    )


def _insecure(
    host: str, name: str, tlsa: DnsAnswer, mx_secure: bool, records: list[str]
) -> Finding:
    """TLSA records senders ignore: not validated, or behind an unsigned MX."""
    mx_only = tlsa.secure and not mx_secure
    why = (
        (
            "the domain's MX record is not DNSSEC-signed, so DANE senders do not use "
            f"the TLSA records of {host} for it (RFC 7672 §2.2.1)"
        )
        if mx_only
        else (
            f"the TLSA records at {name} are not DNSSEC-validated (unsigned zone, or a "
            "resolver that does not validate), so senders ignore them"
        )
    )
    return Finding(
        "dane-tlsa-insecure",
        Severity.INFO if mx_only else Severity.WARNING,
        why,
        {
            "name": name,
            "records": records,
            "tlsa_secure": tlsa.secure,
            "mx_secure": mx_secure,
        },
        None if mx_only else "sign the zone with DNSSEC and publish its DS at the parent",
    )


def _tlsa_fix(name: str, probes: Sequence[SmtpProbe]) -> str | None:
    """The DANE-EE(3) SPKI(1) SHA2-256(1) record for the served key (RFC 7671 §5.1)."""
    for probe in probes:
        certs, _ = parse_chain(probe.chain[:1])
        if certs:
            digest = hashlib.sha256(spki_der(certs[0])).hexdigest()
            return (
                f"{name}. IN TLSA 3 1 1 {digest}   ; publish it next to the old records "
                "before removing them"
            )
    return None
