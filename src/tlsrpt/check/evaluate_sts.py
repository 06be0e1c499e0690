"""MTA-STS findings: the `_mta-sts` record (RFC 8461 §3.1), the policy fetch
(§3.3), the policy (§3.2), its mode and MX coverage (§4.1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tlsrpt.check.evaluate_compat import compat_findings
from tlsrpt.check.evaluate_tlsrpt import display, problem_json
from tlsrpt.check.facts import DomainFacts
from tlsrpt.check.findings import (
    ALL_MTA_STS_SENDERS,
    MADDY,
    MAILAUTH,
    POSTFIX_RESOLVER,
    RFC_STRICT,
    Finding,
    Severity,
    senders,
)
from tlsrpt.check.fixes import policy_fix, sts_record_fix
from tlsrpt.check.policy_fetch import FetchFailure, PolicyFetch
from tlsrpt.records import Mode, StsPolicy, parse_sts_policy, select_sts_record, txt_value

# The policy parser reports the mode as a lint warning; the checker has
# findings of its own for it (with the enforce preview).
_MODE_CODES = {"sts-policy-mode-testing", "sts-policy-mode-none"}


@dataclass(frozen=True, slots=True)
class StsState:
    """What senders will apply: the mode of a valid, fetched policy, or none."""

    policy: StsPolicy | None = None

    @property
    def mode(self) -> Mode | None:
        return self.policy.mode if self.policy else None

    @property
    def in_use(self) -> bool:
        return self.mode in ("enforce", "testing")


def by_mode(state: StsState, enforce: Severity, testing: Severity, other: Severity) -> Severity:
    if state.mode == "enforce":
        return enforce
    if state.mode == "testing":
        return testing
    return other


def evaluate_sts(
    facts: DomainFacts, mx_hosts: list[str], dane_everywhere: bool, now: dt.datetime
) -> tuple[list[Finding], dict[str, Any], StsState]:
    domain = facts.domain
    name = f"_mta-sts.{domain}"
    answer = facts.sts
    section: dict[str, Any] = {
        "name": name,
        "record": None,
        "records": [],
        "id": None,
        "policy": None,
    }
    if answer is None:
        return [], section, StsState()
    section["dns"] = answer.to_json()
    section["records"] = [display(rr) for rr in answer.records]
    if answer.failed:
        failed = Finding(
            "dns-lookup-failed",
            Severity.WARNING,
            f"the TXT lookup of {name} failed ({answer.error or answer.status}); senders "
            "that see the same apply no MTA-STS policy",
            {"name": name, "dns": answer.to_json()},
        )
        return [failed], section, StsState()
    selected = select_sts_record(answer.records, strict=True)
    errors = [p for p in selected.problems if p.severity == "error"]
    codes = {p.code for p in errors}
    compat: list[Finding] = []
    restated: frozenset[str] = frozenset()
    if not codes & {"sts-record-missing", "sts-record-multiple"}:
        rrs = [txt_value(rr) for rr in answer.records]
        compat, restated = compat_findings("sts-record", selected.text, name, rrs)
    findings = [
        Finding(
            p.code,
            Severity.WARNING,
            f"{name}: {p.message}",
            {"record": selected.text, "position": p.position},
        )
        for p in selected.problems
        if p.severity == "warning" and p.code not in restated
    ]
    findings += compat
    if "sts-record-missing" in codes:
        findings.append(_missing(domain, name, section["records"], mx_hosts, dane_everywhere, now))
        return findings, section, StsState()
    if "sts-record-multiple" in codes:
        findings.append(
            Finding(
                "sts-record-multiple",
                Severity.ERROR,
                f"{name}: " + next(p.message for p in errors if p.code == "sts-record-multiple"),
                {"name": name, "txt": section["records"]},
                sts_record_fix(domain, now) + "   ; this one record replaces all of them",
            )
        )
        return findings, section, StsState()
    section["record"] = selected.text
    if errors or selected.value is None:
        findings.append(
            Finding(
                "sts-record-invalid",
                Severity.ERROR,
                f"{name}: the record is invalid, so senders ignore MTA-STS (RFC 8461 §3.1): "
                + "; ".join(p.message for p in errors),
                {"record": selected.text, "problems": [problem_json(p) for p in errors]},
                sts_record_fix(domain, now),
            )
        )
        return findings, section, StsState()
    section["id"] = selected.value.id
    policy_findings, policy = _policy(domain, facts.policy, mx_hosts, now, section)
    findings += policy_findings
    state = StsState(policy)
    if policy is not None:
        findings += _mode_and_coverage(domain, policy, state, mx_hosts, now, section)
    return findings, section, state


def _missing(
    domain: str,
    name: str,
    records: list[str],
    mx_hosts: list[str],
    dane_everywhere: bool,
    now: dt.datetime,
) -> Finding:
    if dane_everywhere:
        severity = Severity.INFO
        why = "DANE protects every MX; MTA-STS would add protection for senders without DANE"
    else:
        severity = Severity.WARNING
        why = (
            "senders cannot tell that mail to this domain must be encrypted, so an "
            "attacker on the path can strip STARTTLS"
        )
    fix = None
    if mx_hosts:
        fix = policy_fix(domain, "testing", mx_hosts, now)
    return Finding(
        "sts-record-missing",
        severity,
        f"no MTA-STS record at {name}: {why} (RFC 8461 §3.1)",
        {"name": name, "txt": records},
        fix,
    )


def _fetch_failure(domain: str, fetch: PolicyFetch) -> Finding:
    evidence = fetch.to_json()
    if fetch.failure == FetchFailure.REFUSED:
        return Finding(
            "address-refused",
            Severity.WARNING,
            f"{fetch.host} resolves to an address the checker does not connect to: "
            f"{fetch.error}; senders on the internet cannot fetch the policy there either",
            evidence,
        )
    if fetch.failure == FetchFailure.WEBPKI:
        return Finding(
            "sts-policy-webpki-invalid",
            Severity.ERROR,
            f"the certificate of {fetch.host} is not valid: {fetch.error}; senders do not "
            "accept the policy (RFC 8461 §3.3)",
            {**evidence, "senders": senders(ALL_MTA_STS_SENDERS)},
            f"install a certificate for {fetch.host} from a public CA (the name must be in "
            "its subjectAltName)",
        )
    accept: list[str] = []
    fail = ALL_MTA_STS_SENDERS
    if fetch.failure == FetchFailure.OVERSIZE:
        fail, accept = [RFC_STRICT, POSTFIX_RESOLVER], [MAILAUTH]
    return Finding(
        "sts-policy-fetch-failed",
        Severity.ERROR,
        f"the policy at {fetch.url} could not be fetched: {fetch.error}; senders without "
        "a cached policy deliver as if there were no MTA-STS (RFC 8461 §3.3)",
        {**evidence, "senders": senders(fail, accept)},
        None
        if fetch.failure != FetchFailure.DNS
        else f"publish an address record for {fetch.host} and serve the policy there",
    )


def _policy(
    domain: str,
    fetch: PolicyFetch | None,
    mx_hosts: list[str],
    now: dt.datetime,
    section: dict[str, Any],
) -> tuple[list[Finding], StsPolicy | None]:
    if fetch is None:
        return [], None
    section["policy"] = fetch.to_json()
    if fetch.failure is not None:
        return [_fetch_failure(domain, fetch)], None
    evidence = fetch.to_json()
    status = fetch.status or 0
    if 300 <= status < 400:
        return [
            Finding(
                "sts-policy-redirect",
                Severity.ERROR,
                f"{fetch.url} answers {status} redirecting to {fetch.location or '(no Location)'}; "
                "senders must not follow redirects (RFC 8461 §3.3), so none gets the policy",
                {**evidence, "senders": senders(ALL_MTA_STS_SENDERS)},
                f"serve the policy itself at {fetch.url} with status 200",
            )
        ], None
    if status != 200:
        accept = [MAILAUTH] if 200 <= status < 300 else []
        fail = [s for s in ALL_MTA_STS_SENDERS if s not in accept]
        return [
            Finding(
                "sts-policy-fetch-failed",
                Severity.ERROR,
                f"{fetch.url} answers {status} instead of 200 (RFC 8461 §3.3)",
                {**evidence, "senders": senders(fail, accept)},
                f"serve the policy at {fetch.url} with status 200",
            )
        ], None
    findings: list[Finding] = []
    media_type = (fetch.content_type or "").split(";")[0].strip().lower()
    if media_type != "text/plain":
        findings.append(
            Finding(
                "sts-policy-content-type",
                Severity.ERROR,
                f"{fetch.url} is served as {fetch.content_type or 'no Content-Type'!r}, not "
                "text/plain (RFC 8461 §3.2); senders that check it reject the policy",
                {**evidence, "senders": senders([POSTFIX_RESOLVER, MADDY, RFC_STRICT], [MAILAUTH])},
                "serve the file with 'Content-Type: text/plain' (charset utf-8 if any)",
            )
        )
    # What the most tolerant senders apply; the compatibility findings say
    # which senders reject it instead (docs/conformance.md#sender-compatibility).
    parsed, problems = parse_sts_policy(fetch.body or b"", tolerant=True)
    text = (fetch.body or b"").decode("utf-8", "replace")
    section["policy"]["text"] = text
    errors = [p for p in problems if p.severity == "error"]
    compat, restated = compat_findings("sts-policy", fetch.body or b"", fetch.url)
    findings += [
        Finding(p.code, Severity.WARNING, f"{fetch.url}: {p.message}", {"position": p.position})
        for p in problems
        if p.severity == "warning" and p.code not in _MODE_CODES | restated
    ]
    findings += compat
    if errors or parsed is None:
        findings.append(
            Finding(
                "sts-policy-invalid",
                Severity.ERROR,
                f"the policy at {fetch.url} is invalid, so senders ignore it (RFC 8461 §3.2): "
                + "; ".join(p.message for p in errors),
                {"policy": text, "problems": [problem_json(p) for p in errors]},
                policy_fix(domain, "testing", mx_hosts, now) if mx_hosts else None,
            )
        )
        return findings, None
    section["policy"].update(mode=parsed.mode, max_age=parsed.max_age, mx=list(parsed.mx))
    return findings, parsed


def _mode_and_coverage(
    domain: str,
    policy: StsPolicy,
    state: StsState,
    mx_hosts: list[str],
    now: dt.datetime,
    section: dict[str, Any],
) -> list[Finding]:
    findings: list[Finding] = []
    if policy.mode == "none":
        findings.append(
            Finding(
                "sts-mode-none",
                Severity.WARNING,
                "the MTA-STS policy is in mode none: senders treat the domain as having no "
                "policy (RFC 8461 §5)",
                {"mode": "none"},
                policy_fix(domain, "testing", mx_hosts, now, policy.max_age) if mx_hosts else None,
            )
        )
        return findings
    coverage = []
    uncovered = []
    for host in mx_hosts:
        match = policy.covers(host)
        coverage.append(
            {
                "host": host,
                "covered": match.covered,
                "pattern": match.pattern,
                "reason": match.reason,
            }
        )
        if not match.covered:
            uncovered.append((host, match))
    section["policy"]["coverage"] = coverage
    for host, match in uncovered:
        # Postfix (postfix-mta-sts-resolver) and mailauth match wildcards as
        # suffixes of any depth (docs/conformance.md#sender-behaviour): they accept what
        # RFC 8461 §4.1 does not.
        suffix_ok = any(
            p.startswith("*.") and host.lower().endswith(p[1:].lower()) for p in policy.mx
        )
        who = (
            senders([RFC_STRICT, MADDY], [POSTFIX_RESOLVER, MAILAUTH])
            if suffix_ok
            else senders(ALL_MTA_STS_SENDERS)
        )
        consequence = (
            "senders that enforce the policy do not deliver to it"
            if policy.mode == "enforce"
            else "enforce mode would stop delivery to it"
        )
        findings.append(
            Finding(
                "sts-mx-not-covered",
                by_mode(state, Severity.ERROR, Severity.WARNING, Severity.INFO),
                f"MX {host} is not covered by the MTA-STS policy: {match.reason}; {consequence} "
                "(RFC 8461 §4.1)",
                {
                    "host": host,
                    "pattern": match.pattern,
                    "reason": match.reason,
                    "patterns": list(policy.mx),
                    "senders": who,
                },
                policy_fix(
                    domain,
                    policy.mode,
                    [*policy.mx, *(h for h, _ in uncovered)],
                    now,
                    policy.max_age,
                ),
            )
        )
    return findings
