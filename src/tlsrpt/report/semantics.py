"""RFC-shape decode -> normalized model: the checks both tiers share.

Time zones, the date range, policy and result types, policy strings,
`mx-host`, `policy-domain`, IP address forms, missing and empty members.
The per-row work on failure details is kept to a few C-level operations
because reports can carry thousands of rows.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import orjson
from msgspec import UNSET

from tlsrpt.report.errors import ReportError
from tlsrpt.report.limits import Limits
from tlsrpt.report.model import (
    POLICY_TYPES,
    RESULT_TYPE_SET,
    DateRange,
    Deviation,
    FailureDetail,
    Policy,
    PolicyResult,
    Report,
)
from tlsrpt.report.wire import FastPolicy, FastPolicyResult, FastReport


class Findings:
    """Collects deviations; paths are only formatted when one is found."""

    __slots__ = ("devs",)

    def __init__(self, devs: list[Deviation] | None = None) -> None:
        self.devs: list[Deviation] = devs if devs is not None else []

    def dev(self, code: str, path: str, message: str, violation: bool = True) -> None:
        self.devs.append(Deviation(code, path, message, violation))


# R8460-4.4-j: IP addresses already seen in canonical form (bounded memo).
_CANONICAL_IPS: set[str] = set()
_CANONICAL_IPS_MAX = 65536


_IP_FORMS: dict[str, str | None] = {}  # text -> canonical text, None if invalid


def _canonical_ip(text: str) -> str | None:
    try:
        return _IP_FORMS[text]
    except KeyError:
        pass
    if len(_IP_FORMS) > _CANONICAL_IPS_MAX:
        _IP_FORMS.clear()
    try:
        canonical: str | None = ipaddress.ip_address(text).compressed
    except ValueError:
        canonical = None
    _IP_FORMS[text] = canonical
    return canonical


def _note_ips(ips: set[str]) -> bool:
    """Remember the canonical ones; True when any is not canonical."""
    if len(_CANONICAL_IPS) > _CANONICAL_IPS_MAX:
        _CANONICAL_IPS.clear()
    bad = False
    for ip in ips:
        if _canonical_ip(ip) == ip:
            _CANONICAL_IPS.add(ip)
        else:
            bad = True
    return bad


def finish(w: FastReport, out: Findings, limits: Limits) -> Report:
    if len(w.policies) > limits.max_policies:
        raise ReportError(
            "too-many-policies",
            f"{len(w.policies)} policies, limit {limits.max_policies}",
            "$.policies",
        )
    rows = 0
    for p in w.policies:
        if p.failure_details is not UNSET:
            rows += len(p.failure_details)
    if rows > limits.max_failure_details:
        raise ReportError(
            "too-many-failure-details",
            f"{rows} failure-details rows, limit {limits.max_failure_details}",
            "$.policies",
        )
    contact = w.contact_info
    if contact is UNSET:
        out.dev("contact-info-missing", "$.contact-info", "contact-info is missing")
        contact = None
    elif contact == "":
        out.dev("empty-value", "$.contact-info", "contact-info is empty")
        contact = None
    return Report(
        w.organization_name,
        _date_range(w.date_range, out),
        contact,
        w.report_id,
        [_policy_result(p, i, out) for i, p in enumerate(w.policies)],
    )


_ONE_DAY = timedelta(days=1)
_AS_UTC: dict[datetime, datetime] = {}  # naive -> aware; report dates repeat


def _utc(value: datetime, path: str, out: Findings) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:  # Microsoft, checklist D8
        out.dev("datetime-no-offset", path, "date-time without UTC offset; assumed UTC")
        aware = _AS_UTC.get(value)
        if aware is None:
            if len(_AS_UTC) > 4096:
                _AS_UTC.clear()
            aware = _AS_UTC[value] = value.replace(tzinfo=UTC)
        return aware
    if value.utcoffset():
        return value.astimezone(UTC)
    return value if value.tzinfo is UTC else value.replace(tzinfo=UTC)


def _date_range(dr: DateRange, out: Findings) -> DateRange:
    start = _utc(dr.start_datetime, "$.date-range.start-datetime", out)
    end = _utc(dr.end_datetime, "$.date-range.end-datetime", out)
    if end < start:
        out.dev("date-range-inverted", "$.date-range", "end-datetime is before start-datetime")
    elif not end.second and not end.minute and not end.hour and end - start == _ONE_DAY:
        # R8460-4.1-b: a legal reading of "24:00", but not the App. B form.
        out.dev(
            "end-datetime-next-midnight",
            "$.date-range.end-datetime",
            "range ends at the next day's 00:00:00 instead of 23:59:59",
            violation=False,
        )
    if start is dr.start_datetime and end is dr.end_datetime:
        return dr
    return DateRange(start, end)


def _policy_result(w: FastPolicyResult, i: int, out: Findings) -> PolicyResult:
    details = w.failure_details
    if details is UNSET:
        # R8460-4-f: Google and Microsoft omit it when there are no failures.
        out.dev(
            "failure-details-missing",
            f"$.policies[{i}].failure-details",
            "failure-details is missing",
            violation=False,
        )
        details = []
    elif details:
        _check_rows(details, i, out)
    return PolicyResult(_policy(w.policy, f"$.policies[{i}].policy", out), w.summary, details)


def _policy(w: FastPolicy, path: str, out: Findings) -> Policy:
    ptype = w.policy_type
    if ptype not in POLICY_TYPES:
        lowered = ptype.strip().lower()
        if lowered in POLICY_TYPES:
            out.dev("policy-type-case", f"{path}.policy-type", f"policy-type {ptype!r}")
            ptype = lowered
        else:  # R8460-4.4-e: kept, never fatal
            out.dev("policy-type-unknown", f"{path}.policy-type", f"unknown policy-type {ptype!r}")

    strings = w.policy_string
    if strings is UNSET:
        if ptype != "no-policy-found":  # checklist M1, D5
            out.dev("policy-string-missing", f"{path}.policy-string", "policy-string is missing")
        strings = []
    elif len(strings) == 1 and strings[0].startswith("["):
        strings = _unwrap_policy_string(strings, f"{path}.policy-string", out)

    mx = w.mx_host
    if mx is UNSET:
        if ptype == "sts":  # R8460-4.4-h; Microsoft omits it (checklist D3)
            out.dev("mx-host-missing", f"{path}.mx-host", "mx-host is missing for sts")
        mx = []

    domain = w.policy_domain
    if not domain:  # absent (checklist O2), null or empty
        if domain is not None:
            out.dev("policy-domain-missing", f"{path}.policy-domain", "policy-domain is missing")
        domain = None
    else:
        if not domain.islower() or domain.endswith(".") or domain != domain.strip():
            domain = domain.strip().rstrip(".").lower()
        if not domain.isascii():  # R8460-4.4-g
            out.dev(
                "policy-domain-u-label",
                f"{path}.policy-domain",
                "policy-domain is not written in A-labels",
            )
    return Policy(ptype, strings, domain, mx)


def _unwrap_policy_string(strings: list[str], path: str, out: Findings) -> list[str]:
    """Microsoft (checklist D2): the array JSON-encoded into one string."""
    try:
        inner = orjson.loads(strings[0])
    except orjson.JSONDecodeError:
        return strings
    if isinstance(inner, list) and all(isinstance(s, str) for s in inner):
        out.dev(
            "policy-string-json-encoded",
            path,
            "policy-string holds a JSON-encoded array in one string; unwrapped",
        )
        return inner
    return strings


def _check_rows(rows: list[FailureDetail], i: int, out: Findings) -> None:
    """Result types and IP forms, in set operations; row by row only on a hit."""
    if not {r.result_type for r in rows} <= RESULT_TYPE_SET:
        for j, r in enumerate(rows):
            if r.result_type not in RESULT_TYPE_SET:
                _fix_result_type(r, f"$.policies[{i}].failure-details[{j}]", out)
    ips = {r.sending_mta_ip for r in rows}
    ips.update([r.receiving_ip for r in rows])
    ips.discard(None)
    unseen = ips - _CANONICAL_IPS
    if unseen and _note_ips(unseen):  # type: ignore[arg-type]
        for j, r in enumerate(rows):
            for attr, name in (
                ("sending_mta_ip", "sending-mta-ip"),
                ("receiving_ip", "receiving-ip"),
            ):
                ip = getattr(r, attr)
                if ip is not None and ip not in _CANONICAL_IPS:
                    _fix_ip(r, attr, f"$.policies[{i}].failure-details[{j}].{name}", out)


def _fix_result_type(r: FailureDetail, path: str, out: Findings) -> None:
    lowered = r.result_type.strip().lower()
    if lowered in RESULT_TYPE_SET:
        out.dev("result-type-case", f"{path}.result-type", f"result-type {r.result_type!r}")
        r.result_type = lowered
    else:  # R8460-6.6-a: kept verbatim
        out.dev(
            "result-type-unregistered",
            f"{path}.result-type",
            f"result-type {r.result_type!r} is not in the IANA registry",
            violation=False,
        )


def _fix_ip(r: FailureDetail, attr: str, path: str, out: Findings) -> None:
    canonical = _canonical_ip(getattr(r, attr))
    if canonical is None:
        out.dev("ip-invalid", path, "not an IPv4 or IPv6 address; kept as given")
    else:
        out.dev("ip-not-canonical", path, "IP address not in canonical form (RFC 5952); normalized")
        setattr(r, attr, canonical)
