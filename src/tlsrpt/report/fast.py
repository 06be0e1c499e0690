"""The fast path, for reports already in the model's shape (RFC 8460 §4.4).

Most reports arrive in the shape of the §4.4 template, with at most the
quirks the big senders always have: Google and Microsoft leave out an empty
`failure-details`, Microsoft writes date-times without an offset, leaves out
`mx-host` and `policy-string`, and JSON-encodes its TLSA `policy-string`
(peers.md, checklist D2, D3, D8). msgspec decodes those straight into the
model types, in C, and the types' constraints do the checking: non-negative
I-JSON counts, non-empty optional text, arrays where arrays belong, no
unknown members. This module checks, in a few mostly C-level steps, what the
types cannot express, and records those quirks exactly as `normalize` would,
in the same order.

Anything else — a `null` anywhere (the types cannot tell it from absent), an
unknown member or prose key, a number as a string, an unregistered type, a
non-canonical address, a limit exceeded — makes `decode` return None, and
the caller takes the full path (`wire` + `normalize`), which accepts or
rejects it and says why. Tests compare both paths on every fixture and on
generated reports (tests/report/test_fast.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from tlsrpt.report.limits import Limits
from tlsrpt.report.model import POLICY_TYPES, Absent, Deviation, Report
from tlsrpt.report.normalize import (
    DATE_MESSAGES,
    Findings,
    check_range,
    ips_canonical,
    result_types_registered,
    unwrap_policy_strings,
)

_decoder = msgspec.json.Decoder(Report)
_FAILED = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError)


def decode(body: bytes, out: Findings, limits: Limits) -> Report | None:
    """The report, with its quirks added to `out`; None: take the full path."""
    try:
        report = _decoder.decode(body)
    except _FAILED:
        return None
    policies = report.policies
    if not report.contact_info or len(policies) > limits.max_policies:
        return None
    # First every reason to leave, then the quirks, so `out` stays untouched
    # when the full path takes over.
    rows = 0
    nullable = False
    for p in policies:
        policy = p.policy
        if policy.policy_type not in POLICY_TYPES:
            return None
        details = p.failure_details
        if details:
            rows += len(details)
            nullable = True
            if not (result_types_registered(details) and ips_canonical(details)):
                return None
        domain = policy.policy_domain
        if domain is None:
            nullable = True
        elif not (domain.islower() and domain.isascii()) or domain.strip() != domain:
            return None  # `normalize` rewrites it, or flags it
        elif domain[-1] == ".":
            return None
    # A null decodes like an absent member into `str | None` fields.
    if (nullable and b"null" in body) or rows > limits.max_failure_details:
        return None
    dr = report.date_range
    start, end = dr.start_datetime, dr.end_datetime
    if start.tzinfo is not UTC or end.tzinfo is not UTC:
        dr.start_datetime = start = _utc(start, "$.date-range.start-datetime", out)
        dr.end_datetime = end = _utc(end, "$.date-range.end-datetime", out)
    if end < start or not (end.second or end.minute or end.hour):
        check_range(start, end, out)
    for i, p in enumerate(policies):
        policy = p.policy
        if type(p.failure_details) is Absent:
            out.missing("failure-details-missing", i)
        strings = policy.policy_string
        if type(strings) is Absent:
            if policy.policy_type != "no-policy-found":
                out.missing("policy-string-missing", i)
        elif len(strings) == 1 and strings[0].startswith("["):
            path = f"$.policies[{i}].policy.policy-string"
            policy.policy_string = unwrap_policy_strings(strings, path, out)
        if policy.policy_domain is None:
            out.missing("policy-domain-missing", i)
        if type(policy.mx_host) is Absent and policy.policy_type == "sts":
            out.missing("mx-host-missing", i)
    return report


def _utc(value: datetime, path: str, out: Findings) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:  # Microsoft, checklist D8
        out.devs.append(_NO_OFFSET[path])
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_NO_OFFSET = {  # deviations are immutable: one for every report
    path: Deviation("datetime-no-offset", path, DATE_MESSAGES["datetime-no-offset"])
    for path in ("$.date-range.start-datetime", "$.date-range.end-datetime")
}
