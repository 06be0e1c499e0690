"""MX findings: the MX lookup, reachability, STARTTLS, TLS version and
certificates of every address of every MX (RFC 8461 §4.2, §7.2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tlsrpt.check.certs import Anchors, ChainAnalysis, analyze_chain
from tlsrpt.check.evaluate_dane import DaneState, evaluate_dane
from tlsrpt.check.evaluate_sts import StsState, by_mode
from tlsrpt.check.facts import DomainFacts, MxEntry
from tlsrpt.check.findings import (
    ALL_MTA_STS_SENDERS,
    DANE_SENDERS,
    Finding,
    Severity,
    senders,
)
from tlsrpt.check.net import Resolution
from tlsrpt.check.resolver import DnsStatus
from tlsrpt.check.smtp_probe import SmtpProbe

OLD_TLS = {"TLSv1", "TLSv1.1", "SSLv3", "SSLv2"}


def evaluate_mx_lookup(facts: DomainFacts) -> list[Finding]:
    """No MX, null MX, failed lookup (RFC 5321 §5.1, RFC 7505)."""
    mx = facts.mx
    domain = facts.domain
    if mx is None:
        return []
    if mx.failed:
        what = "fails DNSSEC validation (bogus)" if mx.bogus else f"failed ({mx.error})"
        return [
            Finding(
                "dns-lookup-failed",
                Severity.ERROR,
                f"the MX lookup of {domain} {what}; senders that see the same cannot deliver",
                {"name": domain, "dns": mx.to_json()},
            )
        ]
    hosts = [host for _, host in mx.records]
    if hosts == ["."]:
        return [
            Finding(
                "mx-missing",
                Severity.INFO,
                f"{domain} publishes a null MX (RFC 7505): it accepts no mail, so TLS-RPT, "
                "MTA-STS and DANE do not apply",
                {"null_mx": True, "dns": mx.to_json()},
            )
        ]
    if mx.status == DnsStatus.OK:
        return []
    if mx.status == DnsStatus.NXDOMAIN:
        return [
            Finding(
                "mx-missing",
                Severity.ERROR,
                f"{domain} does not exist (NXDOMAIN)",
                {"dns": mx.to_json()},
            )
        ]
    apex = facts.apex
    if apex is not None and apex.exists:
        return [
            Finding(
                "mx-missing",
                Severity.WARNING,
                f"{domain} has no MX record; senders fall back to its address record "
                f"({', '.join(apex.addresses)}) as an implicit MX (RFC 5321 §5.1)",
                {"dns": mx.to_json(), "addresses": list(apex.addresses)},
                f"{domain}. IN MX 10 <your mail server>.",
            )
        ]
    return [
        Finding(
            "mx-missing",
            Severity.ERROR,
            f"{domain} has no MX record and no address record: it cannot receive mail",
            {"dns": mx.to_json()},
        )
    ]


def _addresses(probes: Sequence[SmtpProbe]) -> list[str]:
    return [p.address for p in probes]


def evaluate_mx_host(
    entry: MxEntry,
    sts: StsState,
    dane: DaneState,
    anchors: Anchors,
    now: dt.datetime,
    expiry_warning_days: int,
) -> tuple[list[Finding], dict[str, Any], bool]:
    """Findings, JSON and "some address answered SMTP" for one MX host."""
    facts = entry.facts
    host = facts.host
    section: dict[str, Any] = {
        "host": host,
        "preference": entry.preference,
        "implicit": entry.implicit,
        "addresses": [],
        "refused": [],
        "probes": None,
        "tlsa": None,
    }
    findings: list[Finding] = []
    resolution = facts.resolution
    if resolution is None:
        return findings, section, False
    section["addresses"] = list(resolution.addresses)
    section["refused"] = [{"address": ip, "reason": why} for ip, why in resolution.refused]
    strict = sts.mode == "enforce" or dane.applies
    if resolution.literal is not None:
        findings.append(_literal_mx(host, resolution))
        return findings, section, False
    findings += _address_findings(host, resolution, section["refused"])
    probes = facts.probes
    # RFC 7672 §8.1: the chain DANE senders get is the one served for the base domain.
    dane_probes = facts.dane_probes if facts.dane_probes is not None else probes
    dane_findings, section["tlsa"] = evaluate_dane(host, dane, dane_probes, now)
    if probes is None:
        return findings + dane_findings, section, False
    analyses = {p.address: analyze_chain(p.chain, host, anchors, now) for p in probes if p.tls_ok}
    section["probes"] = [
        {
            **p.to_json(),
            "certificate": analyses[p.address].to_json() if p.address in analyses else None,
        }
        for p in probes
    ]
    reachable = [p for p in probes if p.reachable]
    tls = [p for p in reachable if p.tls_ok]
    findings += _connection_findings(host, probes, sts, dane, strict)
    findings += _certificate_findings(host, tls, analyses, sts, dane, expiry_warning_days)
    return findings + dane_findings, section, bool(reachable)


def _address_findings(
    host: str, resolution: Resolution, refused: list[dict[str, str]]
) -> list[Finding]:
    """An MX host without addresses, or with addresses the checker refuses."""
    findings: list[Finding] = []
    if not resolution.addresses:
        findings.append(
            Finding(
                "mx-unreachable",
                Severity.WARNING,
                f"MX {host} has no address: {resolution.dns_problem()}",
                {"host": host, "dns": resolution.to_json()["dns"]},
                f"publish A/AAAA records for {host} or remove it from the MX records",
            )
        )
    if resolution.refused:
        findings.append(
            Finding(
                "address-refused",
                Severity.WARNING,
                f"MX {host} resolves to addresses the checker does not connect to: "
                + "; ".join(why for _, why in resolution.refused)
                + "; senders on the internet cannot reach them either",
                {"host": host, "refused": refused},
            )
        )
    return findings


def _connection_findings(
    host: str, probes: Sequence[SmtpProbe], sts: StsState, dane: DaneState, strict: bool
) -> list[Finding]:
    """What the SMTP sessions with each address of one MX host showed:
    unreachable, no STARTTLS, a failing handshake, an old TLS version."""
    findings: list[Finding] = []
    reachable = [p for p in probes if p.reachable]
    unreachable = [p for p in probes if not p.reachable]
    if unreachable:
        findings.append(
            Finding(
                "mx-unreachable",
                Severity.WARNING,
                f"MX {host} does not answer SMTP on "
                + ", ".join(f"{p.address} ({p.connect_error or p.banner})" for p in unreachable),
                {"host": host, "probes": [p.to_json() for p in unreachable]},
                f"make {host} accept connections on port 25 from the internet",
            )
        )
    plain = [p for p in reachable if not p.starttls_offered]
    if plain:
        findings.append(
            Finding(
                "mx-starttls-missing",
                Severity.ERROR if strict else Severity.WARNING,
                f"MX {host} does not offer STARTTLS ({', '.join(_addresses(plain))}): "
                + (
                    "senders that enforce MTA-STS or DANE do not deliver to it"
                    if strict
                    else "mail to it travels unencrypted"
                ),
                {
                    "host": host,
                    "capabilities": list(plain[0].capabilities),
                    "addresses": _addresses(plain),
                },
                f"enable STARTTLS on {host} with a certificate for that name",
            )
        )
    failed = [p for p in reachable if p.starttls_offered and not p.tls_ok]
    if failed:
        findings.append(
            Finding(
                "mx-tls-failed",
                Severity.ERROR if strict else Severity.WARNING,
                f"MX {host} offers STARTTLS but the TLS handshake fails: "
                + "; ".join(f"{p.address}: {p.tls_error}" for p in failed),
                {
                    "host": host,
                    "addresses": _addresses(failed),
                    "senders": _who_fails(sts, dane, tls=True),
                },
            )
        )
    old = [p for p in reachable if p.tls_ok and p.tls_version in OLD_TLS]
    if old:
        findings.append(
            Finding(
                "mx-tls-version-old",
                Severity.ERROR if strict else Severity.WARNING,
                f"MX {host} negotiates {old[0].tls_version}; RFC 8461 §7.2 asks for TLS 1.2 or "
                "newer and senders whose TLS library has a 1.2 minimum cannot complete the "
                "handshake",
                {
                    "host": host,
                    "versions": {p.address: p.tls_version for p in old},
                    "senders": _who_fails(sts, dane, tls=True),
                },
                f"enable TLS 1.2 and 1.3 on {host}",
            )
        )
    return findings


def _literal_mx(host: str, resolution: Resolution) -> Finding:
    """An MX target written as an IP address: RFC 1035 §3.3.9 makes the
    exchange a domain name, so senders look its address records up and find
    none (Postfix and Exim refuse such an MX outright)."""
    what = f"MX {host} is an IP address, not a host name (RFC 1035 §3.3.9)"
    fix = "publish A/AAAA records for a host name and use that name in the MX record"
    if resolution.refused:
        (address, why), *_ = resolution.refused
        return Finding(
            "address-refused",
            Severity.WARNING,
            f"{what}, and the checker does not connect to it: {why}; senders on the internet "
            "cannot reach it either",
            {"host": host, "refused": [{"address": address, "reason": why}]},
            fix,
        )
    return Finding(
        "mx-unreachable",
        Severity.WARNING,
        f"{what}: senders look up the address records of that name, find none and do not "
        "deliver to it",
        {"host": host, "literal": resolution.literal},
        fix,
    )


def _certificate_findings(
    host: str,
    probes: list[SmtpProbe],
    analyses: dict[str, ChainAnalysis],
    sts: StsState,
    dane: DaneState,
    expiry_warning_days: int,
) -> list[Finding]:
    findings: list[Finding] = []
    severity = by_mode(sts, Severity.ERROR, Severity.WARNING, Severity.INFO)
    impact = {
        Severity.ERROR: "senders that enforce MTA-STS do not deliver to it (RFC 8461 §4.2)",
        Severity.WARNING: "MTA-STS enforce mode would stop delivery to it (RFC 8461 §4.2)",
        Severity.INFO: "senders without MTA-STS still deliver, but cannot authenticate it",
    }[severity]

    def group(predicate: Any) -> list[tuple[str, ChainAnalysis]]:
        return [
            (p.address, analyses[p.address])
            for p in probes
            if p.address in analyses and predicate(analyses[p.address])
        ]

    expired = group(lambda a: a.expired)
    if expired:
        a = expired[0][1]
        assert a.leaf is not None  # expiry is judged on a leaf certificate
        findings.append(
            Finding(
                "mx-certificate-expired",
                severity,
                f"the certificate of MX {host} expired on {a.leaf.not_after:%Y-%m-%d} "
                f"({-(a.days_left or 0)} days ago); {impact}",
                _cert_evidence(host, expired, sts, dane),
                f"renew the certificate of {host}",
            )
        )
    expiring = group(
        lambda a: not a.expired and a.days_left is not None and a.days_left < expiry_warning_days
    )
    if expiring:
        a = expiring[0][1]
        assert a.leaf is not None  # days_left is counted on a leaf certificate
        findings.append(
            Finding(
                "mx-certificate-expiring",
                Severity.WARNING if sts.in_use or dane.applies else Severity.INFO,
                f"the certificate of MX {host} expires on {a.leaf.not_after:%Y-%m-%d}, in "
                f"{a.days_left} days",
                _cert_evidence(host, expiring, sts, dane),
                f"renew the certificate of {host} (and check that renewal is automated)",
            )
        )
    untrusted = group(lambda a: a.leaf is not None and not a.trusted)
    if untrusted:
        a = untrusted[0][1]
        findings.append(
            Finding(
                "mx-certificate-untrusted",
                severity,
                f"the certificate of MX {host} does not chain to a trusted root: "
                f"{a.trust_error}; {impact}",
                _cert_evidence(host, untrusted, sts, dane),
                f"serve a certificate for {host} from a public CA, with its intermediates",
            )
        )
    mismatch = group(lambda a: a.leaf is not None and not a.name_matches)
    if mismatch:
        a = mismatch[0][1]
        names = ", ".join(a.leaf.dns_names) if a.leaf and a.leaf.dns_names else "none"
        findings.append(
            Finding(
                "mx-certificate-host-mismatch",
                severity,
                f"the certificate of MX {host} is not valid for that name (its DNS names: "
                f"{names}); {impact}",
                _cert_evidence(host, mismatch, sts, dane),
                f"serve a certificate whose subjectAltName includes {host}",
            )
        )
    return findings


def _who_fails(sts: StsState, dane: DaneState, tls: bool) -> dict[str, list[str]]:
    """Senders that would not deliver. `tls`: the fault breaks TLS itself, which
    DANE senders need too; certificate faults matter to them only via TLSA."""
    fail = list(ALL_MTA_STS_SENDERS) if sts.mode == "enforce" else []
    if tls and dane.applies:
        fail.append(DANE_SENDERS)
    accept = [] if fail else ["opportunistic senders (no MTA-STS or DANE policy applies)"]
    return senders(fail, accept)


def _cert_evidence(
    host: str, items: list[tuple[str, ChainAnalysis]], sts: StsState, dane: DaneState
) -> dict[str, Any]:
    _, analysis = items[0]
    return {
        "senders": _who_fails(sts, dane, tls=False),
        "host": host,
        "addresses": [a for a, _ in items],
        "certificate": analysis.leaf.to_json() if analysis.leaf else None,
        "days_left": analysis.days_left,
        "trust_error": analysis.trust_error,
    }
