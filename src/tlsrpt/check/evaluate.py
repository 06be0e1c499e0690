"""Gathered facts -> findings and the per-domain report. Pure: no I/O, the
clock and the trust anchors are parameters."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from tlsrpt.check.certs import Anchors
from tlsrpt.check.evaluate_dane import DaneState, dane_state
from tlsrpt.check.evaluate_mx import evaluate_mx_host, evaluate_mx_lookup
from tlsrpt.check.evaluate_sts import StsState, evaluate_sts
from tlsrpt.check.evaluate_tlsrpt import evaluate_tlsrpt, rua_verdict
from tlsrpt.check.facts import DomainFacts, MxEntry
from tlsrpt.check.findings import Finding, Severity, sort_findings
from tlsrpt.check.fixes import policy_fix

# Problems that testing mode tolerates and enforce mode turns into lost mail.
ENFORCE_BREAKERS = (
    "sts-mx-not-covered",
    "mx-starttls-missing",
    "mx-tls-failed",
    "mx-tls-version-old",
    "mx-certificate-expired",
    "mx-certificate-untrusted",
    "mx-certificate-host-mismatch",
)


@dataclass(frozen=True, slots=True)
class DomainReport:
    domain: str
    findings: tuple[Finding, ...]
    tlsrpt: dict[str, Any]
    mta_sts: dict[str, Any]
    mx: list[dict[str, Any]]
    complete: bool
    elapsed: float

    @property
    def has_error(self) -> bool:
        return any(f.severity == Severity.ERROR for f in self.findings)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "findings": [f.to_json() for f in self.findings],
            "tlsrpt": self.tlsrpt,
            "mta_sts": self.mta_sts,
            "mx": self.mx,
            "complete": self.complete,
            "elapsed": round(self.elapsed, 3),
        }


def _mx_secure(facts: DomainFacts, entry: MxEntry) -> bool:
    """RFC 7672 §2.2.1-2.2.2: DANE needs the MX RRset (or, without one, the
    domain's own address records) to be DNSSEC-secure."""
    if entry.implicit:
        return bool(facts.apex and any(x.secure for x in facts.apex.answers))
    return bool(facts.mx and facts.mx.secure)


def _real_hosts(facts: DomainFacts) -> list[MxEntry]:
    return [e for e in facts.mx_hosts or () if e.facts.host != "."]


def evaluate(
    facts: DomainFacts,
    anchors: Anchors,
    now: dt.datetime,
    expiry_warning_days: int = 14,
) -> DomainReport:
    entries = _real_hosts(facts)
    hosts = [e.facts.host for e in entries]
    dane: dict[str, DaneState] = {
        e.facts.host: dane_state(e.facts, _mx_secure(facts, e)) for e in entries
    }
    dane_everywhere = bool(entries) and all(d.applies for d in dane.values())
    findings, sts_section, sts = evaluate_sts(facts, hosts, dane_everywhere, now)
    findings += evaluate_mx_lookup(facts)
    mx_sections, mx_findings, reachable = [], [], False
    for entry in entries:
        host_findings, section, answered = evaluate_mx_host(
            entry, sts, dane[entry.facts.host], anchors, now, expiry_warning_days
        )
        coverage = next(
            (
                c
                for c in (sts_section.get("policy") or {}).get("coverage", ())
                if c["host"] == entry.facts.host
            ),
            None,
        )
        section["mta_sts"] = coverage
        mx_sections.append(section)
        mx_findings += host_findings
        reachable = reachable or answered
    if facts.probe_enabled and entries and not reachable:
        # Not one MX answers: every sender fails (or this network blocks port 25).
        mx_findings = [
            dataclasses.replace(
                f,
                severity=Severity.ERROR,
                message=f.message + "; no MX of the domain answers (if this network blocks "
                "outgoing port 25, run with --no-mx-probe)",
            )
            if f.code == "mx-unreachable"
            else f
            for f in mx_findings
        ]
    findings += mx_findings
    policy_in_use = sts.in_use or any(d.in_use for d in dane.values())
    tlsrpt_findings, tlsrpt_section = evaluate_tlsrpt(facts, policy_in_use)
    findings += tlsrpt_findings
    findings += _refused_rua(facts)
    if not entries and facts.mx is not None and not facts.mx.failed:
        # Null MX or no mail host at all: missing policies are beside the point.
        findings = [
            f for f in findings if f.code not in ("tlsrpt-record-missing", "sts-record-missing")
        ]
    findings += _testing_preview(facts.domain, sts, findings, now)
    if facts.timed_out:
        findings.append(
            Finding(
                "check-timeout",
                Severity.WARNING,
                f"the check of {facts.domain} did not finish within its budget of "
                f"{facts.budget:g} s; the findings are partial",
                {"budget": facts.budget},
            )
        )
    return DomainReport(
        facts.domain,
        tuple(sort_findings(findings)),
        tlsrpt_section,
        sts_section,
        mx_sections,
        not facts.timed_out,
        facts.elapsed,
    )


def _refused_rua(facts: DomainFacts) -> list[Finding]:
    findings = []
    for check in facts.rua or ():
        if check.tls is not None and check.tls.resolution.refused and rua_verdict(check)[0] is None:
            resolution = check.tls.resolution
            what = (
                f"rua {check.uri} names an IP address"
                if resolution.literal is not None
                else f"rua host {check.target} resolves to addresses"
            )
            findings.append(
                Finding(
                    "address-refused",
                    Severity.WARNING,
                    f"{what} the checker does not connect to: "
                    + "; ".join(why for _, why in resolution.refused),
                    {"uri": check.uri, "tls": check.tls.to_json()},
                )
            )
    return findings


def _testing_preview(
    domain: str, sts: StsState, findings: list[Finding], now: dt.datetime
) -> list[Finding]:
    """RFC 8461 §5: what `mode: enforce` would break today."""
    if sts.mode != "testing" or sts.policy is None:
        return []
    breakers = [f for f in findings if f.code in ENFORCE_BREAKERS]
    if breakers:
        listed = "; ".join(f"{f.code}: {f.message.split(';')[0]}" for f in breakers)
        message = (
            f"MTA-STS is in testing mode; switching to enforce today would stop "
            f"delivery from MTA-STS senders because of {len(breakers)} problem(s): "
            f"{listed}"
        )
        fix = None
    else:
        message = (
            "MTA-STS is in testing mode and nothing found here would break under "
            "enforce; check your TLS-RPT reports for failures seen by senders, then "
            "switch"
        )
        fix = policy_fix(domain, "enforce", sts.policy.mx, now, sts.policy.max_age)
    return [
        Finding(
            "sts-mode-testing",
            Severity.INFO,
            message,
            {"mode": "testing", "would_break": [f.code for f in breakers]},
            fix,
        )
    ]
