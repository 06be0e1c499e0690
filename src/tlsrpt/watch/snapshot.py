"""What one check saw, as a canonical JSON object: the snapshot.

A pure function of the checker's facts and report. Keys are sorted and
every list is sorted, so equal facts give equal bytes and an equal
SHA-256 digest; values that change without anything changing (elapsed
times, "expires in N days") are left out, so a domain whose setup stays
the same keeps one digest from check to check.

Shape (CERT: `{"subject", "sans", "issuer", "not_after", "sha256"}`):

    {"tlsrpt": {"records", "status"},
     "sts": {"records", "status", "id"},
     "policy": {"url", "status", "error", "text", "mode", "mx", "max_age",
                "certificate": CERT|null} | null,
     "mx": [{"host", "preference", "addresses",
             "tls": [{"address", "starttls", "tls_version", "error",
                      "certificate": CERT|null}] | null,
             "tlsa": [...], "tlsa_status"}],
     "findings": [{"code", "severity", "subject", "message"}]}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import orjson
from cryptography import x509

from tlsrpt.check.certs import summarize
from tlsrpt.check.evaluate import DomainReport
from tlsrpt.check.facts import DomainFacts, MxEntry
from tlsrpt.check.findings import Finding
from tlsrpt.check.policy_fetch import PolicyFetch
from tlsrpt.check.resolver import DnsAnswer, DnsStatus
from tlsrpt.check.smtp_probe import SmtpProbe

Snapshot = dict[str, Any]

# A failed lookup is one state, however it failed (SERVFAIL, timeout, ...).
_STATUS = {
    DnsStatus.OK: "ok",
    DnsStatus.NXDOMAIN: "nxdomain",
    DnsStatus.NODATA: "nodata",
}
# Counts of days in finding messages ("in 12 days", "(3 days ago)"): they
# change every day while the certificate stays the same.
_VOLATILE = re.compile(r",? in -?\d+ days?\b| \(-?\d+ days? ago\)")
# Evidence keys naming what a finding is about, most specific first.
_SUBJECT_KEYS = ("host", "uri", "name")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate(der: bytes | None) -> dict[str, Any] | None:
    """CERT of a DER certificate; None when there is none or it does not parse."""
    if not der:
        return None
    try:
        summary = summarize(x509.load_der_x509_certificate(der))
    except ValueError:
        return None
    return {
        "subject": summary.subject,
        "sans": sorted(summary.dns_names),
        "issuer": summary.issuer,
        "not_after": _iso(summary.not_after),
        "sha256": summary.sha256,
    }


def _status(answer: DnsAnswer | None) -> str | None:
    if answer is None:
        return None
    return _STATUS.get(answer.status, "error")


def _records(report_section: dict[str, Any]) -> list[str]:
    return sorted(str(r) for r in report_section.get("records") or ())


def _policy(fetch: PolicyFetch | None, section: dict[str, Any]) -> dict[str, Any] | None:
    """RFC 8461 §3.3 fetch outcome and the §3.2 fields of a valid policy."""
    if fetch is None:
        return None
    parsed = section.get("policy") or {}
    text = None
    if fetch.failure is None and fetch.status == 200 and fetch.body is not None:
        text = fetch.body.decode("utf-8", "replace")
    return {
        "url": fetch.url,
        "status": fetch.status,
        "error": fetch.error,
        "text": text,
        "mode": parsed.get("mode"),
        "mx": sorted(parsed.get("mx") or ()),
        "max_age": parsed.get("max_age"),
        "certificate": certificate(fetch.certificate),
    }


def _probe_error(probe: SmtpProbe) -> str | None:
    return probe.refused or probe.connect_error or probe.tls_error


def _tls(probe: SmtpProbe) -> dict[str, Any]:
    return {
        "address": probe.address,
        "starttls": probe.starttls_offered,
        "tls_version": probe.tls_version,
        "error": _probe_error(probe),
        "certificate": certificate(probe.chain[0]) if probe.chain else None,
    }


def _mx(entry: MxEntry) -> dict[str, Any]:
    facts = entry.facts
    _, tlsa = facts.tlsa_base()  # RFC 7672 §2.2.3: the records DANE senders use
    tlsa_status = _status(tlsa)
    if tlsa is not None and tlsa.bogus:
        tlsa_status = "bogus"
    tlsa_records = [r.text() for r in tlsa.records] if tlsa and tlsa.status == DnsStatus.OK else []
    probes = facts.probes
    return {
        "host": facts.host,
        "preference": entry.preference,
        "addresses": sorted(facts.resolution.addresses) if facts.resolution else [],
        "tls": None if probes is None else sorted((_tls(p) for p in probes), key=_by_address),
        "tlsa": sorted(tlsa_records),
        "tlsa_status": tlsa_status,
    }


def _by_address(item: dict[str, Any]) -> str:
    return str(item["address"])


def stable_message(message: str) -> str:
    """A finding's message without the day counts that change daily."""
    return _VOLATILE.sub("", message)


def finding_subject(finding: Finding) -> str | None:
    """What a finding is about (an MX host, a rua URI, a DNS name), if it says."""
    for key in _SUBJECT_KEYS:
        value = finding.evidence.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "severity": str(finding.severity),
        "subject": finding_subject(finding),
        "message": stable_message(finding.message),
    }


def finding_key(item: dict[str, Any]) -> tuple[str, str, str, str]:
    return (item["code"], item["subject"] or "", item["severity"], item["message"])


def take_snapshot(facts: DomainFacts, report: DomainReport) -> Snapshot:
    """The snapshot of one check (see the module docstring)."""
    entries = [e for e in facts.mx_hosts or () if e.facts.host != "."]
    return {
        "tlsrpt": {"records": _records(report.tlsrpt), "status": _status(facts.tlsrpt)},
        "sts": {
            "records": _records(report.mta_sts),
            "status": _status(facts.sts),
            "id": report.mta_sts.get("id"),
        },
        "policy": _policy(facts.policy, report.mta_sts),
        "mx": sorted((_mx(e) for e in entries), key=lambda m: (m["host"], m["preference"])),
        "findings": sorted((_finding(f) for f in report.findings), key=finding_key),
    }


def canonical(snapshot: Snapshot) -> bytes:
    """The snapshot as bytes: sorted keys, no whitespace."""
    return orjson.dumps(snapshot, option=orjson.OPT_SORT_KEYS)


def digest(snapshot: Snapshot) -> str:
    return hashlib.sha256(canonical(snapshot)).hexdigest()


def certificates(snapshot: Snapshot) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    """Every certificate of a snapshot: (host, address or None, CERT); the
    policy host's under `mta-sts.<domain>` with no address."""
    policy = snapshot.get("policy") or {}
    if policy.get("certificate"):
        host = str(policy["url"]).split("/")[2].split(":")[0]
        yield host, None, policy["certificate"]
    for mx in snapshot.get("mx") or ():
        for tls in mx.get("tls") or ():
            if tls.get("certificate"):
                yield mx["host"], tls["address"], tls["certificate"]


def earliest_not_after(snapshot: Snapshot) -> dt.datetime | None:
    """When the first certificate of the snapshot expires (UTC)."""
    moments = [
        dt.datetime.strptime(cert["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        for _, _, cert in certificates(snapshot)
    ]
    return min(moments, default=None)


def severity_counts(snapshot: Snapshot) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for item in snapshot.get("findings") or ():
        counts[item["severity"]] = counts.get(item["severity"], 0) + 1
    return counts
