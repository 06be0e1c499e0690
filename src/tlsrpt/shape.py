"""Analysis results as JSON-ready dicts (the API's bodies and the export
rows). Days are ISO dates; rates are fractions (0.25 = 25 %), None when
no session was reported; timestamps are written in UTC with a `Z`
(`tlsrpt.export.json_bytes`). Each kind of result has one shape: a
domain's readiness is `readiness_dict` in the list and in the detail."""

from __future__ import annotations

from typing import Any

from tlsrpt.analysis.explain import explain
from tlsrpt.analysis.failure_context import FailureExplanation, FailureGroup
from tlsrpt.analysis.period import DomainPeriod
from tlsrpt.analysis.readiness import Readiness
from tlsrpt.store.domain_reads import DomainDetail, DomainOverview
from tlsrpt.store.report_view import ReportView

DOMAIN_COLUMNS = (
    "domain",
    "reports",
    "successful_sessions",
    "failed_sessions",
    "failure_rate",
    "readiness",
    "days_with_data",
)
DAILY_COLUMNS = ("day", "reports", "successful_sessions", "failed_sessions", "failure_rate")


def readiness_dict(readiness: Readiness) -> dict[str, Any]:
    """The one readiness shape, in the list as in the detail."""
    return readiness.as_dict()


def domain_item(overview: DomainOverview) -> dict[str, Any]:
    """A domain in the list: its totals and its readiness object."""
    a = overview.analysis
    return {
        "domain": a.domain,
        "reports": a.reports,
        "successful_sessions": a.successful_sessions,
        "failed_sessions": a.failed_sessions,
        "failure_rate": a.failure_rate,
        "days_with_data": a.days_with_data,
        "readiness": readiness_dict(overview.readiness),
    }


def domain_row(overview: DomainOverview) -> dict[str, Any]:
    """A domain as a CSV row (`DOMAIN_COLUMNS`): the readiness verdict only."""
    return {**domain_item(overview), "readiness": str(overview.readiness.verdict)}


def daily_rows(analysis: DomainPeriod) -> list[dict[str, Any]]:
    return [
        {
            "day": p.day.isoformat(),
            "reports": p.reports,
            "successful_sessions": p.successful_sessions,
            "failed_sessions": p.failed_sessions,
            "failure_rate": p.failure_rate,
        }
        for p in analysis.daily
    ]


def _pairs(pairs: list[tuple[Any, int]], key: str) -> list[dict[str, Any]]:
    return [{key: k, "failed_sessions": n} for k, n in pairs]


def domain_detail_dict(detail: DomainDetail) -> dict[str, Any]:
    a = detail.analysis
    return {
        "domain": a.domain,
        "start": a.period.start.isoformat(),
        "end": a.period.end.isoformat(),
        "reports": a.reports,
        "successful_sessions": a.successful_sessions,
        "failed_sessions": a.failed_sessions,
        "failure_rate": a.failure_rate,
        "days_with_data": a.days_with_data,
        "readiness": readiness_dict(detail.readiness),
        "failures_by_result_type": [
            {"result_type": t, "failed_sessions": n, "title": explain(t).title}
            for t, n in a.failures_by_result_type
        ],
        "failures_by_organization": _pairs(a.failures_by_organization, "organization"),
        "failures_by_mx": _pairs(a.failures_by_mx, "receiving_mx_hostname"),
        "failures_by_sending_ip": _pairs(a.failures_by_sending_ip, "sending_mta_ip"),
        "reporters": [
            {
                "organization": r.organization,
                "reports": r.reports,
                "successful_sessions": r.successful_sessions,
                "failed_sessions": r.failed_sessions,
                "first_day": r.first_day.isoformat(),
                "last_day": r.last_day.isoformat(),
            }
            for r in a.reporters
        ],
        # how each group of sessions came to be filed under the domain
        # (`tlsrpt.report.attribution.Attribution`)
        "attribution": [row.as_dict() for row in detail.attribution],
        "new_failure_types": detail.new_failure_types,
        "stopped_reporters": [
            {
                "organization": s.organization,
                "last_day": s.last_day.isoformat(),
                "previous_reports": s.previous_reports,
            }
            for s in detail.stopped_reporters
        ],
    }


def report_dict(view: ReportView) -> dict[str, Any]:
    """`raw_available`: whether `/raw` answers (for the user the view is for)."""
    stored = view.stored
    raw = {k: v for k, v in stored.raw.items() if k != "data"}
    return {
        "report": stored.report,
        "policies": stored.policies,
        "failures": stored.failures,
        "raw": raw,
        "duplicates": stored.duplicates,
        "raw_available": view.raw_allowed,
    }


def failure_group_dict(group: FailureGroup, explanation: FailureExplanation) -> dict[str, Any]:
    """One failure group (day, result type, receiving MX) and what the
    history of its day says about it (`tlsrpt.analysis.failure_context`)."""
    return {
        "day": group.day,
        "result_type": group.result_type,
        "receiving_mx_hostname": group.mx,
        "failed_sessions": group.sessions,
        "failure_reason_codes": list(group.reason_codes),
        "policy_types": list(group.policy_types),
        "explanation": explanation.as_dict(),
    }


def explained_failure_rows(
    rows: list[dict[str, Any]], groups: list[tuple[FailureGroup, FailureExplanation]]
) -> list[dict[str, Any]]:
    """The failure list's rows, each with the `explanation` of its group
    (None for a row beyond the groups read)."""
    by_key = {g.key: e.as_dict() for g, e in groups}
    return [
        {
            **row,
            "explanation": by_key.get(
                (row["day"], row["result_type"], (row["receiving_mx_hostname"] or "").lower())
            ),
        }
        for row in rows
    ]
