"""Findings: stable codes, severity by delivery impact, evidence and the fix.

Severity: `error` when a sender that enforces (MTA-STS `enforce`,
DANE) would fail to deliver, or a record is unusable; `warning` for risks;
`info` otherwise. The same fault can therefore carry different severities
on different domains: an expired MX certificate is an error under
`mode: enforce`, a warning under `mode: testing` and info without a policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlsrpt.severity import SEVERITY_ORDER, Severity

__all__ = ["CODES", "SEVERITY_ORDER", "Finding", "Severity"]


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The common shape (code, severity, message; `evidence` locates it)
        and the fix."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "evidence": self.evidence,
            "fix": self.fix,
        }


# Every code the checker itself emits, with the condition and its severity.
# The README table is generated from the same facts and a test compares them.
# Record and policy lint warnings pass through with the codes of the records
# module (see `tlsrpt.records.CODES`).
CODES: dict[str, tuple[str, str]] = {
    "tlsrpt-record-missing": (
        "no `_smtp._tls` TXT record begins with `v=TLSRPTv1;`",
        "warning when MTA-STS or DANE is in use (a DNSSEC-bogus TLSA lookup counts), else info",
    ),
    "tlsrpt-record-multiple": (
        "more than one `v=TLSRPTv1;` record: senders then send no reports (RFC 8460 §3)",
        "error",
    ),
    "tlsrpt-record-invalid": ("the record breaks the RFC 8460 §3 grammar", "error"),
    "tlsrpt-rua-invalid": (
        "a rua URI is malformed, or its mailbox domain cannot receive mail (no MX, A or "
        "AAAA; null MX), or its https host does not resolve or fails TLS",
        "error when no rua destination works, else warning",
    ),
    "sts-record-missing": (
        "no `_mta-sts` TXT record begins with `v=STSv1;`",
        "warning; info when DANE protects every MX",
    ),
    "sts-record-multiple": (
        "more than one `v=STSv1;` record: senders ignore MTA-STS (RFC 8461 §3.1)",
        "error",
    ),
    "sts-record-invalid": ("the record breaks the RFC 8461 §3.1 grammar", "error"),
    "sts-policy-fetch-failed": (
        "the policy could not be fetched: no address, connection or TLS failure, timeout, "
        "a status other than 200, or a body over 64 KiB (RFC 8461 §3.3)",
        "error",
    ),
    "sts-policy-redirect": (
        "the policy URL answers with a redirect, which senders must not follow (RFC 8461 §3.3)",
        "error",
    ),
    "sts-policy-content-type": (
        "the policy is not served as `text/plain` (RFC 8461 §3.2); strict senders reject it",
        "error",
    ),
    "sts-policy-invalid": ("the policy breaks the RFC 8461 §3.2 grammar", "error"),
    "sts-policy-webpki-invalid": (
        "the certificate of `mta-sts.<domain>` is expired, untrusted or for another name "
        "(RFC 8461 §3.3)",
        "error",
    ),
    "sts-policy-rejected-by-senders": (
        "a sender implementation rejects the `_mta-sts` record or the policy while others "
        "apply it (e.g. postfix-mta-sts-resolver and a max_age above 31557600, mox and a "
        "blank line); the evidence lists every implementation's verdict",
        "error",
    ),
    "record-read-differently": (
        "implementations read the same record or policy differently (e.g. two `rua=` "
        "fields: mox uses both, checkdmarc the first, mimecast's library the last); the "
        "message names who reads what",
        "warning",
    ),
    "sts-mode-testing": (
        "the policy is in `testing` mode; the finding lists what `enforce` would break today",
        "info",
    ),
    "sts-mode-none": ("the policy is in `none` mode: MTA-STS is switched off", "warning"),
    "sts-mx-not-covered": (
        "an MX host matches no `mx` pattern of the policy (RFC 8461 §4.1, RFC-exact "
        "wildcards), with the reason",
        "error under enforce, warning under testing",
    ),
    "mx-missing": (
        "no MX record: the domain does not exist or has no address (error), mail goes to "
        "the A/AAAA fallback (warning), or a null MX says it takes no mail (info)",
        "error / warning / info",
    ),
    "mx-unreachable": (
        "an MX host has no address or is an IP address instead of a host name, or its SMTP "
        "service on port 25 (`--smtp-port`) does not answer with a 220 greeting",
        "error when no MX is reachable, else warning",
    ),
    "mx-starttls-missing": (
        "an MX does not offer STARTTLS",
        "error under MTA-STS enforce or DANE, else warning",
    ),
    "mx-tls-failed": (
        "an MX offers STARTTLS but the TLS handshake fails",
        "error under MTA-STS enforce or DANE, else warning",
    ),
    "mx-tls-version-old": (
        "an MX negotiates TLS older than 1.2 (RFC 8461 §7.2 asks for 1.2 or newer)",
        "error under MTA-STS enforce or DANE, else warning",
    ),
    "mx-certificate-expired": (
        "an MX certificate has expired",
        "error under enforce, warning under testing, else info",
    ),
    "mx-certificate-expiring": (
        "an MX certificate expires within `--expiry-warning-days` (default 14)",
        "warning under MTA-STS or DANE, else info",
    ),
    "mx-certificate-untrusted": (
        "an MX certificate does not chain to a trusted root (system store plus `--ca-file`)",
        "error under enforce, warning under testing, else info",
    ),
    "mx-certificate-host-mismatch": (
        "no DNS name (subjectAltName) of an MX certificate matches the MX host name "
        "(RFC 8461 §4.2, no CN fallback)",
        "error under enforce, warning under testing, else info",
    ),
    "dane-tlsa-mismatch": (
        "DNSSEC-validated TLSA records exist for an MX but none authenticates the served chain "
        "(usages 2 and 3, all selectors and matching types; with DANE-TA(2) also the name and "
        "dates), with the reason",
        "error",
    ),
    "dane-dnssec-invalid": (
        "the TLSA lookup of an MX with a signed MX record fails DNSSEC validation (bogus) "
        "or fails outright; DANE senders then defer mail (RFC 7672 §2.1)",
        "error",
    ),
    "dane-tlsa-unusable": (
        "validated TLSA records exist but none is usable for SMTP (only PKIX usages 0/1, "
        "unknown parameters or wrong digest lengths): TLS stays mandatory, unauthenticated",
        "warning",
    ),
    "dane-tlsa-insecure": (
        "TLSA records exist but are not DNSSEC-validated (unsigned zone, unsigned MX "
        "record, or a resolver that does not validate), so senders do not use them",
        "warning; info when only the domain's MX record is unsigned",
    ),
    "address-refused": (
        "a host resolves to, or an MX target or https rua names, an address that is not "
        "globally reachable (IANA special-purpose blocks, IPv6 outside 2000::/3, multicast, "
        "cloud metadata); the finding names the block; the checker does not connect there "
        "without `--allow-private-addresses`, and senders on the internet cannot either",
        "warning",
    ),
    "dns-lookup-failed": (
        "a DNS lookup failed (SERVFAIL, timeout, bogus DNSSEC) so a check could not be made",
        "error for the MX lookup, else warning",
    ),
    "check-timeout": (
        "the domain's time budget (`--budget`) ran out; the findings are partial",
        "warning",
    ),
}


# Who fails when (docs/conformance.md#sender-behaviour).
RFC_STRICT = "RFC-strict senders (e.g. Gmail)"
POSTFIX_RESOLVER = "Postfix with postfix-mta-sts-resolver"
MAILAUTH = "mailauth (ZoneMTA, WildDuck)"
MADDY = "maddy"
ALL_MTA_STS_SENDERS = [RFC_STRICT, POSTFIX_RESOLVER, MAILAUTH, MADDY]
DANE_SENDERS = "DANE senders (e.g. Postfix with DANE, Exim, Microsoft 365, mox)"


def senders(fail: list[str], accept: list[str] | None = None) -> dict[str, list[str]]:
    return {"fail": fail, "accept": accept or []}


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
