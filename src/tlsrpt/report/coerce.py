"""Loose tier -> RFC shape: type-level quirks, each recorded as a deviation.

Only reports that the fast tier cannot decode come here (see `wire`). What
is left to check after this — time zones, unknown types, IP forms, empty or
missing members — is done for both tiers by `tlsrpt.report.semantics`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from msgspec import UNSET, UnsetType

from tlsrpt.report.errors import ReportError
from tlsrpt.report.model import MAX_IJSON_INT, DateRange, FailureDetail, Summary
from tlsrpt.report.semantics import Findings
from tlsrpt.report.wire import (
    FastPolicy,
    FastPolicyResult,
    FastReport,
    LooseCount,
    LooseFailureDetail,
    LoosePolicy,
    LoosePolicyResult,
    LoosePolicyResultRfcRows,
    LooseReport,
    LooseReportRfcRows,
)


def coerce_report(w: LooseReport | LooseReportRfcRows, out: Findings) -> FastReport:
    policies = w.policies
    if not isinstance(policies, list):  # R8460-4-b
        out.dev("policies-not-array", "$.policies", "policies is an object, not an array")
        policies = [policies]
    report_id = w.report_id
    if not isinstance(report_id, str):
        out.dev("report-id-not-string", "$.report-id", "report-id is a number")
        report_id = str(report_id)
    contact = w.contact_info
    if contact is None:  # checklist O1
        out.dev("contact-info-null", "$.contact-info", "contact-info is null")
    return FastReport(
        organization_name=w.organization_name,
        date_range=DateRange(
            _datetime(w.date_range.start_datetime, "$.date-range.start-datetime", out),
            _datetime(w.date_range.end_datetime, "$.date-range.end-datetime", out),
        ),
        report_id=report_id,
        policies=[_policy_result(p, f"$.policies[{i}]", out) for i, p in enumerate(policies)],
        contact_info=contact,
    )


def _datetime(text: str, path: str, out: Findings) -> datetime:
    """RFC 3339 §5.6, or what `datetime.fromisoformat` can read (flagged)."""
    try:
        value = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        raise ReportError("schema", f"not an RFC 3339 date-time: {text[:64]!r}", path) from None
    if value.tzinfo is None:
        return value  # flagged as datetime-no-offset by the semantic pass
    if len(text) < 20 or text[10] not in "Tt ":
        out.dev("datetime-not-rfc3339", path, "date-time not in RFC 3339 form")
    return value.astimezone(UTC)


def _count(value: LooseCount | UnsetType, path: str, out: Findings) -> int:
    if type(value) is int:
        if value < 0:
            raise ReportError("schema", "session count is negative", path)
        if value > MAX_IJSON_INT:
            out.dev("number-too-large", path, "integer beyond I-JSON range (RFC 7493 §2.2)")
        return value
    if isinstance(value, float):
        if value.is_integer() and value >= 0:
            out.dev("number-not-integer", path, "session count written as a float")
            return int(value)
        raise ReportError("schema", f"session count {value!r} is not a whole number", path)
    if value is UNSET:
        out.dev("count-missing", path, "session count is missing; taken as 0")
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        out.dev("number-as-string", path, "session count written as a string")
        return int(value)
    raise ReportError("schema", f"session count {value!r} is not a number", path)


def _policy_result(
    w: LoosePolicyResult | LoosePolicyResultRfcRows, base: str, out: Findings
) -> FastPolicyResult:
    summary = Summary(
        _count(
            w.summary.total_successful_session_count,
            f"{base}.summary.total-successful-session-count",
            out,
        ),
        _count(
            w.summary.total_failure_session_count,
            f"{base}.summary.total-failure-session-count",
            out,
        ),
    )
    details: list[FailureDetail] | UnsetType = UNSET
    if w.failure_details is None:
        out.dev("null-value", f"{base}.failure-details", "failure-details is null")
    elif w.failure_details is not UNSET:
        details = [
            d if type(d) is FailureDetail else _failure(d, f"{base}.failure-details[{j}]", out)
            for j, d in enumerate(w.failure_details)
        ]
    return FastPolicyResult(_policy(w.policy, f"{base}.policy", out), summary, details)


def _string_list(value: Any, path: str, name: str, out: Findings) -> list[str] | UnsetType:
    if value is UNSET or isinstance(value, list):
        return value  # type: ignore[no-any-return]
    if value is None:
        out.dev("null-value", path, f"{name} is null")
        return UNSET
    out.dev(f"{name}-not-array", path, f"{name} is a string, not an array")
    return [value]


def _policy(w: LoosePolicy, path: str, out: Findings) -> FastPolicy:
    strings = _string_list(w.policy_string, f"{path}.policy-string", "policy-string", out)
    if isinstance(w.policy_string, str) and w.policy_type.lower() == "tlsa":
        # R8460-4-g: the §4 prose form, TLSA RRs separated by semicolons.
        strings = [s.strip() for s in w.policy_string.split(";") if s.strip()]
    mx = _string_list(w.mx_host, f"{path}.mx-host", "mx-host", out)
    if w.mx_host is UNSET and w.mx_host_pattern is not UNSET:
        out.dev(
            "mx-host-pattern-key",
            f"{path}.mx-host-pattern",
            "MX patterns under the prose name mx-host-pattern",
            violation=False,
        )
        mx = _string_list(w.mx_host_pattern, f"{path}.mx-host-pattern", "mx-host", out)
    if w.policy_domain is None:
        out.dev("null-value", f"{path}.policy-domain", "policy-domain is null")
    return FastPolicy(w.policy_type, strings, w.policy_domain, mx)


def _optional(value: Any, base: str, name: str, out: Findings) -> str | None:
    """An optional text member; the path is only built for a deviation."""
    if value is UNSET:
        return None
    if value is None:
        out.dev("null-value", f"{base}.{name}", f"{name} is null")
        return None
    if value == "":  # Google sent "sending-mta-ip": "" (peers.md §8)
        out.dev("empty-value", f"{base}.{name}", f"{name} is an empty string")
        return None
    return value  # type: ignore[no-any-return]


def _failure(w: LooseFailureDetail, path: str, out: Findings) -> FailureDetail:
    info = _optional(w.additional_information, path, "additional-information", out)
    if info is None and w.additional_info_uri is not UNSET:
        out.dev(
            "additional-info-uri-key",
            f"{path}.additional-info-uri",
            "additional information under the prose name additional-info-uri",
            violation=False,
        )
        info = _optional(w.additional_info_uri, path, "additional-info-uri", out)
    count = w.failed_session_count
    return FailureDetail(
        result_type=w.result_type,
        failed_session_count=count
        if type(count) is int and 0 <= count <= MAX_IJSON_INT
        else _count(count, f"{path}.failed-session-count", out),
        sending_mta_ip=_optional(w.sending_mta_ip, path, "sending-mta-ip", out),
        receiving_mx_hostname=_optional(
            w.receiving_mx_hostname, path, "receiving-mx-hostname", out
        ),
        receiving_mx_helo=_optional(w.receiving_mx_helo, path, "receiving-mx-helo", out),
        receiving_ip=_optional(w.receiving_ip, path, "receiving-ip", out),
        additional_information=info,
        failure_reason_code=_optional(w.failure_reason_code, path, "failure-reason-code", out),
    )
