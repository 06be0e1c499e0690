"""The fast path, for reports already in the model's shape (RFC 8460 §4.4).

Most reports arrive in the shape of the §4.4 template, with at most the
quirks the big senders always have: Google and Microsoft leave out an empty
`failure-details`, Microsoft writes date-times without an offset, leaves out
`mx-host` and `policy-string`, and JSON-encodes its TLSA `policy-string`
(Microsoft; docs/conformance.md#policy-string, #mx-host, #date-times); some MTAs write
`contact-info: null` (docs/conformance.md#contact-info). msgspec decodes those straight into the
model types, in C, and the types' constraints do the checking: registered policy and result types,
non-negative I-JSON counts, non-empty optional text, arrays where arrays
belong, no `null` where a member may be absent, no unknown members. This
module checks what the types cannot express (a policy domain in normal form,
canonical addresses, the limits, plausible counts) and records the quirks exactly as
`normalize` would, in the same order. Dates, domains and addresses already
seen are memoized: a day's reports share them.

Anything else — a `null` in an optional member, an unknown member or prose
key, a number as a string, an unregistered type, a non-canonical address, a
limit exceeded — makes `decode` return None, and the caller takes the full
path (`wire` + `normalize`), which accepts or rejects it and says why. Tests
compare both paths on every fixture and on generated reports
(tests/report/test_fast.py).

The cost per report is what this is about (benchmarks/parse.py: at least half of
`orjson.loads`): each step below was measured against its alternatives.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from tlsrpt.domains import is_normal_domain
from tlsrpt.report.limits import Limits
from tlsrpt.report.model import Absent, Deviation, Report
from tlsrpt.report.normalize import (
    DATE_MESSAGES,
    MISSING,
    check_range,
    ips_canonical,
    memo_room,
    unwrap_policy_strings,
)

_decoder = msgspec.json.Decoder(Report)
_FAILED = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError)


def decode(body: bytes, out: list[Deviation], limits: Limits) -> Report | None:
    """The report, with its quirks added to `out`; None: take the full path
    (and `out` is as it was)."""
    try:
        report = _decoder.decode(body)
    except _FAILED:
        return None
    policies = report.policies
    if len(policies) > limits.max_policies:
        return None
    mark = len(out)
    dr = report.date_range
    start, end = dr.start_datetime, dr.end_datetime
    if start.tzinfo is not UTC or end.tzinfo is not UTC:
        dr.start_datetime = start = _utc(start, "$.date-range.start-datetime", out)
        dr.end_datetime = end = _utc(end, "$.date-range.end-datetime", out)
    if end < start or not (end.second or end.minute or end.hour):
        check_range(start, end, out)
    if report.contact_info is None:  # docs/conformance.md#contact-info
        out.append(_CONTACT_NULL)
    # Sessions summed in this loop for `Limits.max_sessions`, RFC 8460 §4.4
    # counts (a pass of their own cost a tenth of this path, measured).
    rows = sessions = failed = 0
    for i, p in enumerate(policies):
        summary = p.summary
        sessions += summary.total_successful_session_count + summary.total_failure_session_count
        details = p.failure_details
        if details:
            rows += len(details)
            for d in details:  # (a loop: half the cost of sum(map(...)) for so few rows)
                failed += d.failed_session_count
            if not ips_canonical(details):
                del out[mark:]
                return None
        elif type(details) is Absent:
            out.append(_DETAILS_MISSING[i])
        policy = p.policy
        strings = policy.policy_string
        if type(strings) is Absent:
            if policy.policy_type != "no-policy-found":
                out.append(_STRING_MISSING[i])
        elif len(strings) == 1 and strings[0].startswith("["):
            policy.policy_string = unwrap_policy_strings(strings, i, out)
        domain = policy.policy_domain
        if domain is None:
            out.append(_DOMAIN_MISSING[i])
        elif domain not in _NORMAL_DOMAINS and not _normal_domain(domain):
            del out[mark:]
            return None  # `normalize` rewrites it, or flags it
        if type(policy.mx_host) is Absent and policy.policy_type == "sts":
            out.append(_MX_MISSING[i])
    bound = limits.max_sessions
    if rows > limits.max_failure_details or sessions > bound or failed > bound:
        del out[mark:]
        return None  # the full path says why (`count-implausible`)
    return report


_DETAILS_MISSING = MISSING["failure-details-missing"]
_STRING_MISSING = MISSING["policy-string-missing"]
_DOMAIN_MISSING = MISSING["policy-domain-missing"]
_MX_MISSING = MISSING["mx-host-missing"]
_CONTACT_NULL = Deviation("contact-info-null", "$.contact-info", "contact-info is null")

_NORMAL_DOMAINS: set[str] = set()  # domains known to be as `normalize` leaves them


def _normal_domain(domain: str) -> bool:
    if not is_normal_domain(domain):
        return False
    if memo_room(_NORMAL_DOMAINS, domain):
        _NORMAL_DOMAINS.add(domain)
    return True


_AS_UTC: dict[datetime, datetime] = {}  # a day's reports share their dates


def _utc(value: datetime, path: str, out: list[Deviation]) -> datetime:
    # (Hashing an aware date-time costs more than the whole check, and
    # `replace` more than a lookup: only naive ones are memoized.)
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    out.append(_NO_OFFSET[path])  # Microsoft, docs/conformance.md#date-times
    try:
        return _AS_UTC[value]
    except KeyError:
        aware = value.replace(tzinfo=UTC)
        if memo_room(_AS_UTC, value):
            _AS_UTC[value] = aware
        return aware


# Deviations are immutable: one for every report.
_NO_OFFSET = {
    path: Deviation("datetime-no-offset", path, DATE_MESSAGES["datetime-no-offset"])
    for path in ("$.date-range.start-datetime", "$.date-range.end-datetime")
}
