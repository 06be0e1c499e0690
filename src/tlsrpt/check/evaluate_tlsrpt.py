"""TLS-RPT findings: the `_smtp._tls` record (RFC 8460 §3) and its rua destinations."""

from __future__ import annotations

from typing import Any

from tlsrpt.check.evaluate_compat import compat_findings
from tlsrpt.check.facts import DomainFacts, RuaCheck
from tlsrpt.check.findings import Finding, Severity
from tlsrpt.check.fixes import zone_txt
from tlsrpt.check.resolver import DnsStatus
from tlsrpt.records import (
    Problem,
    generate_tlsrpt_record,
    parse_tlsrpt_record,
    select_tlsrpt_record,
    txt_value,
)

# Errors of the selection that get a finding code of their own.
_SELECTION_CODES = {"tlsrpt-record-missing", "tlsrpt-record-multiple"}
# Parser errors that are about the rua URIs rather than the record's shape.
_RUA_ERRORS = {
    "tlsrpt-rua-uri-invalid",
    "tlsrpt-rua-mailto-invalid",
    "tlsrpt-rua-no-usable-uri",
    "tlsrpt-rua-uri-unencoded",
}


def display(rr: Any) -> str:
    """A TXT RR as readable text (undecodable bytes shown as U+FFFD)."""
    return txt_value(rr).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def problem_json(p: Problem) -> dict[str, Any]:
    return p.to_json()


def default_rua(domain: str) -> list[str]:
    return [f"mailto:tlsrpt@{domain}"]


def rua_verdict(check: RuaCheck) -> tuple[bool | None, str]:
    """(works?, why): None when it could not be verified (DNS failure)."""
    if check.tls is not None:
        tls = check.tls
        if tls.webpki_error:
            return False, f"{check.target}: the certificate is not valid: {tls.webpki_error}"
        if tls.error and tls.resolution.refused and not tls.resolution.allowed:
            return None, f"{check.target}: not checked: {tls.error}"
        if tls.error:
            return False, f"{check.target}: {tls.error}"
        return True, f"{check.target} accepts TLS ({tls.tls_version}) with a valid certificate"
    mx = check.mx
    if mx is None:
        return None, "not checked"
    if mx.failed:
        return None, f"the MX lookup of {check.target} failed: {mx.error or mx.status}"
    if mx.status == DnsStatus.OK:
        hosts = [host for _, host in mx.records]
        if hosts == ["."]:
            return False, f"{check.target} publishes a null MX (RFC 7505): it accepts no mail"
        return True, f"{check.target} receives mail via {', '.join(hosts)}"
    if mx.status == DnsStatus.NXDOMAIN:
        return False, f"{check.target} does not exist (NXDOMAIN)"
    if check.addresses is not None and check.addresses.exists:
        return True, f"{check.target} has no MX; mail goes to its address record"
    return False, f"{check.target} has no MX, A or AAAA record, so it cannot receive mail"


def evaluate_tlsrpt(
    facts: DomainFacts, policy_in_use: bool
) -> tuple[list[Finding], dict[str, Any]]:
    domain = facts.domain
    name = f"_smtp._tls.{domain}"
    answer = facts.tlsrpt
    section: dict[str, Any] = {"name": name, "record": None, "records": [], "rua": []}
    if answer is None:
        return [], section
    section["dns"] = answer.to_json()
    section["records"] = [display(rr) for rr in answer.records]
    if answer.failed:
        return [
            Finding(
                "dns-lookup-failed",
                Severity.WARNING,
                f"the TXT lookup of {name} failed ({answer.error or answer.status}); "
                "senders that see the same send no reports",
                {"name": name, "dns": answer.to_json()},
            )
        ], section
    selected = select_tlsrpt_record(answer.records, domain=domain, name=name, strict=True)
    errors = {p.code: p for p in selected.problems if p.severity == "error"}
    if "tlsrpt-record-missing" in errors:
        return [_missing(domain, name, section["records"], selected.problems, policy_in_use)], (
            section
        )
    if "tlsrpt-record-multiple" in errors:
        return [_multiple(domain, name, section["records"], errors["tlsrpt-record-multiple"])], (
            section
        )
    text = selected.text or ""
    section["record"] = text
    rrs = [txt_value(rr) for rr in answer.records]
    compat, restated = compat_findings("tlsrpt-record", text, name, rrs)
    findings = [
        Finding(
            p.code,
            Severity.WARNING,
            f"{name}: {p.message}",
            {"record": text, "position": p.position},
        )
        for p in selected.problems
        if p.severity == "warning" and p.code not in _SELECTION_CODES | restated
    ]
    findings += compat
    record_errors = [p for p in selected.problems if p.severity == "error"]
    lenient = parse_tlsrpt_record(text, domain=domain, strict=False).value
    if record_errors:
        findings.append(_invalid(domain, name, text, record_errors, lenient.rua if lenient else ()))
    findings += _rua_findings(domain, name, text, facts.rua or (), valid=not record_errors)
    section["rua"] = [
        {"uri": c.uri, "target": c.target, "ok": ok, "detail": why}
        for c in facts.rua or ()
        for ok, why in [rua_verdict(c)]
    ]
    return findings, section


def _missing(
    domain: str,
    name: str,
    records: list[str],
    problems: tuple[Problem, ...],
    policy_in_use: bool,
) -> Finding:
    near = [problem_json(p) for p in problems if p.severity == "warning"]
    if policy_in_use:
        severity = Severity.WARNING
        why = (
            "MTA-STS or DANE is in use but no sender can tell you when it blocks or "
            "degrades delivery"
        )
    else:
        severity = Severity.INFO
        why = "senders cannot report TLS problems delivering to this domain"
    return Finding(
        "tlsrpt-record-missing",
        severity,
        f"no TLS-RPT record at {name}: {why} (RFC 8460 §3)",
        {"name": name, "txt": records, "near_misses": near},
        zone_txt(name, generate_tlsrpt_record(default_rua(domain))) + "   ; use a mailbox you read",
    )


def _multiple(domain: str, name: str, records: list[str], problem: Problem) -> Finding:
    rua: list[str] = []
    for text in records:
        parsed = parse_tlsrpt_record(text, domain=domain, strict=False).value
        for uri in parsed.rua if parsed else ():
            if uri not in rua:
                rua.append(uri)
    return Finding(
        "tlsrpt-record-multiple",
        Severity.ERROR,
        f"{name}: {problem.message}",
        {"name": name, "txt": records},
        zone_txt(name, generate_tlsrpt_record(rua or default_rua(domain)))
        + "   ; this one record replaces all of them",
    )


def _invalid(
    domain: str, name: str, text: str, errors: list[Problem], salvaged: tuple[str, ...]
) -> Finding:
    only_rua = all(p.code in _RUA_ERRORS for p in errors)
    code = "tlsrpt-rua-invalid" if only_rua else "tlsrpt-record-invalid"
    try:
        fixed = generate_tlsrpt_record(list(salvaged) or default_rua(domain))
    except ValueError:
        fixed = generate_tlsrpt_record(default_rua(domain))
    return Finding(
        code,
        Severity.ERROR,
        f"{name}: the record is invalid, so senders send no reports (RFC 8460 §3): "
        + "; ".join(p.message for p in errors),
        {"record": text, "problems": [problem_json(p) for p in errors]},
        zone_txt(name, fixed),
    )


def _rua_findings(
    domain: str, name: str, text: str, checks: tuple[RuaCheck, ...], valid: bool
) -> list[Finding]:
    verdicts = [(c, *rua_verdict(c)) for c in checks]
    failing = [(c, why) for c, ok, why in verdicts if ok is False]
    if not failing:
        return []
    working = [c.uri for c, ok, _ in verdicts if ok is not False]
    severity = Severity.WARNING if working else Severity.ERROR
    consequence = (
        f"reports still reach {', '.join(working)}" if working else "no report can be delivered"
    )
    keep = [uri for uri in working if uri in text]
    fix = None
    if valid:
        fix = zone_txt(name, generate_tlsrpt_record(keep or default_rua(domain)))
    return [
        Finding(
            "tlsrpt-rua-invalid",
            severity,
            f"rua {check.uri} cannot receive reports: {why}; {consequence}",
            {
                "uri": check.uri,
                "target": check.target,
                "record": text,
                "tls": check.tls.to_json() if check.tls else None,
                "mx": check.mx.to_json() if check.mx else None,
            },
            fix,
        )
        for check, why in failing
    ]
