"""Per-policy-domain summary of stored reports. Pure: aggregated rows in,
`DomainSummary` values out (the `tlsrpt summary --json` contract).

failed_sessions is the sum of RFC 8460 §4.2.2 total-failure-session-count;
failures_by_result_type sums failed-session-count per §4.3 result type.
The two need not agree: one session may fail in several ways (RFC 8460 §4;
docs/conformance.md#failure-counts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DomainSummary:
    domain: str | None  # None: reports that named no policy domain
    reports: int
    organizations: int
    successful_sessions: int
    failed_sessions: int
    failures_by_result_type: dict[str, int] = field(default_factory=dict)
    top_mx_hosts: list[tuple[str, int]] = field(default_factory=list)
    top_sending_ips: list[tuple[str, int]] = field(default_factory=list)

    @property
    def failure_rate(self) -> float | None:
        """Failed / all sessions; None when no session was reported."""
        total = self.successful_sessions + self.failed_sessions
        return self.failed_sessions / total if total else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "reports": self.reports,
            "organizations": self.organizations,
            "successful_sessions": self.successful_sessions,
            "failed_sessions": self.failed_sessions,
            "failure_rate": self.failure_rate,
            "failures_by_result_type": self.failures_by_result_type,
            "top_mx_hosts": [{"host": h, "failed_sessions": n} for h, n in self.top_mx_hosts],
            "top_sending_ips": [{"ip": ip, "failed_sessions": n} for ip, n in self.top_sending_ips],
        }


def _ranked(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Largest first, ties by name, zero counts left out."""
    return sorted(((k, int(n)) for k, n in pairs if n), key=lambda kv: (-kv[1], kv[0]))


def _grouped(rows: Iterable[tuple[Any, ...]]) -> dict[str, list[tuple[str, int]]]:
    """Per domain, (key, count) with the counts of equal keys added up."""
    sums: dict[str, dict[str, int]] = {}
    for domain, key, count in rows:
        per_key = sums.setdefault(domain, {})
        per_key[key] = per_key.get(key, 0) + int(count)
    return {domain: list(per_key.items()) for domain, per_key in sums.items()}


def summarize(
    totals: Iterable[tuple[Any, ...]],
    by_result: Iterable[tuple[Any, ...]],
    mx_hosts: Iterable[tuple[Any, ...]] = (),
    sending_ips: Iterable[tuple[Any, ...]] = (),
    *,
    top: int = 5,
) -> list[DomainSummary]:
    """One summary per domain, sorted by domain name (unknown domain last).

    totals: (domain, reports, organizations, successful, failed);
    by_result, mx_hosts, sending_ips: (domain, key, failed sessions).
    Domain "" stands for reports without a policy domain.
    """
    results, mx, ips = _grouped(by_result), _grouped(mx_hosts), _grouped(sending_ips)
    out = [
        DomainSummary(
            domain=domain or None,
            reports=int(reports),
            organizations=int(organizations),
            successful_sessions=int(ok),
            failed_sessions=int(failed),
            failures_by_result_type=dict(_ranked(results.get(domain, []))),
            top_mx_hosts=_ranked(mx.get(domain, []))[:top],
            top_sending_ips=_ranked(ips.get(domain, []))[:top],
        )
        for domain, reports, organizations, ok, failed in totals
    ]
    return sorted(out, key=lambda s: (s.domain is None, s.domain or ""))
