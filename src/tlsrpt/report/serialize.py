"""Write the model back as RFC 8460 conformant JSON (and gzip).

Sender-side decisions (docs/conformance.md): arrays everywhere (RFC 8460 §4, §4.4;
docs/conformance.md#arrays, #mx-host), `Z` offsets (RFC 8460 §4.4; docs/conformance.md#date-times),
never `null` — members whose value is unknown are left out (RFC 8460 §4.4;
docs/conformance.md#optional-failure-members) — and `failure-details` always present (RFC 8460 §4.4;
docs/conformance.md#absent-failure-details).
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from typing import Any

import orjson

from tlsrpt.report.model import FailureDetail, Policy, PolicyResult, Report


def _datetime(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _policy(p: Policy) -> dict[str, Any]:
    out: dict[str, Any] = {"policy-type": p.policy_type, "policy-string": list(p.policy_string)}
    if p.policy_domain is not None:
        out["policy-domain"] = p.policy_domain
    out["mx-host"] = list(p.mx_host)
    return out


def _failure(f: FailureDetail) -> dict[str, Any]:
    out: dict[str, Any] = {"result-type": f.result_type}
    for key, value in (
        ("sending-mta-ip", f.sending_mta_ip),
        ("receiving-mx-hostname", f.receiving_mx_hostname),
        ("receiving-mx-helo", f.receiving_mx_helo),
        ("receiving-ip", f.receiving_ip),
    ):
        if value is not None:
            out[key] = value
    out["failed-session-count"] = f.failed_session_count
    if f.additional_information is not None:
        out["additional-information"] = f.additional_information
    if f.failure_reason_code is not None:
        out["failure-reason-code"] = f.failure_reason_code
    return out


def _policy_result(r: PolicyResult) -> dict[str, Any]:
    return {
        "policy": _policy(r.policy),
        "summary": {
            "total-successful-session-count": r.summary.total_successful_session_count,
            "total-failure-session-count": r.summary.total_failure_session_count,
        },
        "failure-details": [_failure(f) for f in r.failure_details],
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    out: dict[str, Any] = {
        "organization-name": report.organization_name,
        "date-range": {
            "start-datetime": _datetime(report.date_range.start_datetime),
            "end-datetime": _datetime(report.date_range.end_datetime),
        },
    }
    if report.contact_info is not None:
        out["contact-info"] = report.contact_info
    out["report-id"] = report.report_id
    out["policies"] = [_policy_result(p) for p in report.policies]
    return out


def to_json(report: Report, *, indent: bool = False) -> bytes:
    """RFC 8460 §4 JSON (UTF-8, I-JSON)."""
    return orjson.dumps(report_to_dict(report), option=orjson.OPT_INDENT_2 if indent else 0)


def to_gzip(report: Report) -> bytes:
    """RFC 8460 §5.2: gzip (RFC 1952) with a fixed mtime for reproducible bytes."""
    return gzip.compress(to_json(report), mtime=0)
