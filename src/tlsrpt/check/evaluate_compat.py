"""Findings from the sender-compatibility table: which real implementations
reject, or read differently, a domain's records and policy
(docs/conformance.md#sender-compatibility)."""

from __future__ import annotations

from collections.abc import Sequence

from tlsrpt.check.findings import Finding, Severity
from tlsrpt.records import sender_compat
from tlsrpt.records.compat import Kind

_SEVERITY = {
    "sts-policy-rejected-by-senders": Severity.ERROR,
    "record-read-differently": Severity.WARNING,
}


def compat_findings(
    kind: Kind, data: str | bytes | None, where: str, txt_rrs: Sequence[str] = ()
) -> tuple[list[Finding], frozenset[str]]:
    """The findings for one record or policy, and the parser codes they
    restate (the caller drops its own warnings with those codes)."""
    compat = sender_compat(kind, data, txt_rrs=txt_rrs)
    verdicts = [v.to_json() for v in compat.verdicts]
    findings = [
        Finding(
            p.code,
            _SEVERITY[p.code],
            f"{where}: {p.message}",
            {
                "position": p.position,
                "rules": list(compat.rules),
                "rejected_by": compat.rejected_by(),
                "implementations": verdicts,
            },
        )
        for p in compat.problems
    ]
    return findings, compat.covered if findings else frozenset()
