"""Decoded wire types -> the normalized model, recording every quirk.

Time zones and date forms, the date range, counts, policy and result types,
policy strings, `mx-host`, `policy-domain`, IP address forms, missing, null
and empty members. Reports can carry thousands of failure rows, so a clean
row costs a tuple copy and a few C-level tests; only a row with a quirk is
looked at member by member.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import msgspec
import orjson
from msgspec import UNSET, UnsetType
from msgspec.structs import astuple

from tlsrpt.domains import is_normal_domain, normalize_domain
from tlsrpt.report.errors import ReportError
from tlsrpt.report.limits import Limits
from tlsrpt.report.model import (
    MAX_IJSON_INT,
    POLICY_TYPES,
    RESULT_TYPE_SET,
    DateRange,
    Deviation,
    FailureDetail,
    Policy,
    PolicyResult,
    Report,
    Summary,
)
from tlsrpt.report.wire import LooseCount, WirePolicy, WirePolicyResult, WireReport, WireRow

_ONE_DAY = timedelta(days=1)
_MEMO_MAX = 65536


def memo_room(
    memo: dict[Any, Any] | set[Any], key: Hashable, entries: int = _MEMO_MAX, chars: int = 256
) -> bool:
    """Whether `key` may be kept in `memo`, which is emptied once full. A long
    text (surely a hostile one) is never kept: memos stay small whatever
    senders write (their keys are what reports repeat: dates, domains,
    addresses, policy strings)."""
    if type(key) is str and len(key) > chars:
        return False
    if len(memo) >= entries:
        memo.clear()
    return True


class Findings(list[Deviation]):
    """Collects deviations; paths are only formatted when one is found."""

    __slots__ = ()

    def dev(self, code: str, path: str, message: str, violation: bool = True) -> None:
        self.append(Deviation(code, path, message, violation))

    def missing(self, code: str, policy: int) -> None:
        """A member senders often leave out, in the `policy`-th policy."""
        self.append(MISSING[code][policy])


class PerPolicy(dict[int, Deviation]):
    """One deviation at a member of a policy, by policy index. Deviations
    are immutable, so the same one is shared between reports."""

    __slots__ = ("code", "member", "message", "violation")

    def __init__(self, code: str, member: str, message: str, violation: bool) -> None:
        super().__init__()
        self.code, self.member, self.message, self.violation = code, member, message, violation

    def __missing__(self, policy: int) -> Deviation:
        path = f"$.policies[{policy}]{self.member}"
        dev = Deviation(self.code, path, self.message, self.violation)
        if policy < 64:
            self[policy] = dev
        return dev


MISSING: dict[str, PerPolicy] = {
    code: PerPolicy(code, member, message, violation)
    for code, member, message, violation in (
        # RFC 8460 §4.4; docs/conformance.md#absent-failure-details: Google and Microsoft omit it
        # when there are no failures.
        ("failure-details-missing", ".failure-details", "failure-details is missing", False),
        # Mail.ru, Microsoft; docs/conformance.md#policy-string, #optional-failure-members
        ("policy-string-missing", ".policy.policy-string", "policy-string is missing", True),
        # Postfix with libtlsrpt; docs/conformance.md#policy-domain
        ("policy-domain-missing", ".policy.policy-domain", "policy-domain is missing", True),
        # RFC 8460 §4.4; docs/conformance.md#mx-host; Microsoft
        ("mx-host-missing", ".policy.mx-host", "mx-host is missing for sts", True),
    )
}


def normalize(w: WireReport, out: Findings, limits: Limits, row_nulls: Any = None) -> Report:
    """`row_nulls`: (policy, row, member) triples of null row members, when
    the caller found nulls the wire types cannot tell from absent ones."""
    policies = w.policies
    if not isinstance(policies, list):  # RFC 8460 §4; docs/conformance.md#arrays
        out.dev("policies-not-array", "$.policies", "policies is an object, not an array")
        policies = [policies]
    if len(policies) > limits.max_policies:
        raise ReportError(
            "too-many-policies",
            f"{len(policies)} policies, limit {limits.max_policies}",
            "$.policies",
        )
    rows = 0
    for p in policies:
        if p.failure_details:
            rows += len(p.failure_details)
    if rows > limits.max_failure_details:
        raise ReportError(
            "too-many-failure-details",
            f"{rows} failure-details rows, limit {limits.max_failure_details}",
            "$.policies",
        )
    report_id = w.report_id
    if type(report_id) is not str:
        out.dev("report-id-not-string", "$.report-id", "report-id is a number")
        report_id = str(report_id)
    for i, j, member in row_nulls or ():
        out.dev("null-value", f"$.policies[{i}].failure-details[{j}].{member}", f"{member} is null")
    report = Report(
        w.organization_name,
        _date_range(w.date_range.start_datetime, w.date_range.end_datetime, out),
        _contact(w.contact_info, out),
        report_id,
        [_policy_result(p, i, out) for i, p in enumerate(policies)],
    )
    implausible = implausible_sessions(report.policies, limits.max_sessions)
    if implausible:
        raise ReportError("count-implausible", implausible, "$.policies")
    return report


def _contact(value: str | UnsetType | None, out: Findings) -> str | None:
    if type(value) is str and value:
        return value
    if value is UNSET:
        out.dev("contact-info-missing", "$.contact-info", "contact-info is missing")
    elif value is None:  # docs/conformance.md#contact-info
        out.dev("contact-info-null", "$.contact-info", "contact-info is null")
    else:
        out.dev("empty-value", "$.contact-info", "contact-info is empty")
    return None


# ---- dates ----------------------------------------------------------------

_DATES: dict[str, tuple[datetime, str | None]] = {}


def _parse_datetime(text: str) -> tuple[datetime, str | None]:
    """RFC 3339 §5.6 -> aware UTC, plus a deviation code (memoized: a day's
    reports all carry the same two strings)."""
    try:
        return _DATES[text]
    except KeyError:
        pass
    stripped = text.strip()
    try:  # msgspec's reading, the one `tlsrpt.report.fast` gets, for parity
        value = msgspec.convert(stripped, datetime)
    except msgspec.ValidationError:
        try:
            value = datetime.fromisoformat(stripped.upper())
        except ValueError:
            raise ValueError(f"not an RFC 3339 date-time: {text[:64]!r}") from None
    code: str | None = None
    if value.tzinfo is None:  # Microsoft, docs/conformance.md#date-times
        value, code = value.replace(tzinfo=UTC), "datetime-no-offset"
    else:
        value = value.astimezone(UTC)
        # RFC 3339 (and its §5.6 note on a space for "T") needs full seconds
        if len(stripped) < 20 or stripped[10] not in "Tt " or stripped[16] != ":":
            code = "datetime-not-rfc3339"
    if memo_room(_DATES, text):
        _DATES[text] = (value, code)
    return value, code


DATE_MESSAGES = {
    "datetime-no-offset": "date-time without UTC offset; assumed UTC",
    "datetime-not-rfc3339": "date-time not in RFC 3339 form",
}


def _when(text: str, path: str, out: Findings) -> datetime:
    try:
        value, code = _parse_datetime(text)
    except ValueError as exc:
        raise ReportError("schema", str(exc), path) from None
    if code:
        out.dev(code, path, DATE_MESSAGES[code])
    return value


def _date_range(start_text: str, end_text: str, out: Findings) -> DateRange:
    start = _when(start_text, "$.date-range.start-datetime", out)
    end = _when(end_text, "$.date-range.end-datetime", out)
    check_range(start, end, out)
    return DateRange(start, end)


def check_range(start: datetime, end: datetime, out: list[Deviation]) -> None:
    if end < start:
        out.append(_INVERTED)
    elif not end.second and not end.minute and not end.hour and end - start == _ONE_DAY:
        out.append(_NEXT_MIDNIGHT)


_INVERTED = Deviation(
    "date-range-inverted", "$.date-range", "end-datetime is before start-datetime"
)
# RFC 8460 §4.1; docs/conformance.md#date-range: a legal reading of "24:00", but not the App. B
# form.
_NEXT_MIDNIGHT = Deviation(
    "end-datetime-next-midnight",
    "$.date-range.end-datetime",
    "range ends at the next day's 00:00:00 instead of 23:59:59",
    violation=False,
)


# ---- counts ---------------------------------------------------------------


def _count(value: LooseCount | UnsetType, path: str, out: Findings) -> int:
    if type(value) is int:
        if 0 <= value <= MAX_IJSON_INT:
            return value
        if value < 0:
            raise ReportError("schema", "session count is negative", path)
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


# ---- policies -------------------------------------------------------------


def _policy_result(w: WirePolicyResult, i: int, out: Findings) -> PolicyResult:
    base = f"$.policies[{i}]"
    s = w.summary
    ok, failed = s.total_successful_session_count, s.total_failure_session_count
    if not (type(ok) is int and type(failed) is int and 0 <= ok <= MAX_IJSON_INT >= failed >= 0):
        ok = _count(ok, f"{base}.summary.total-successful-session-count", out)
        failed = _count(failed, f"{base}.summary.total-failure-session-count", out)
    rows = w.failure_details
    if rows is UNSET or rows is None:
        if rows is None:
            out.dev("null-value", f"{base}.failure-details", "failure-details is null")
        out.missing("failure-details-missing", i)
        details: list[FailureDetail] = []
    else:
        details = _rows(rows, base, out) if rows else []
    return PolicyResult(_policy(w.policy, i, out), Summary(ok, failed), details)


def _string_list(value: Any, path: str, name: str, out: Findings) -> list[str] | UnsetType:
    if value is UNSET or type(value) is list:
        return value
    if value is None:
        out.dev("null-value", path, f"{name} is null")
        return UNSET
    out.dev(f"{name}-not-array", path, f"{name} is a string, not an array")
    return [value]


def _policy(w: WirePolicy, i: int, out: Findings) -> Policy:
    path = f"$.policies[{i}].policy"
    ptype = w.policy_type
    if ptype not in POLICY_TYPES:
        lowered = ptype.strip().lower()
        if lowered in POLICY_TYPES:
            out.dev("policy-type-case", f"{path}.policy-type", f"policy-type {ptype!r}")
            ptype = lowered
        else:  # RFC 8460 §4.4; docs/conformance.md#policy-type: kept, never fatal
            out.dev("policy-type-unknown", f"{path}.policy-type", f"unknown policy-type {ptype!r}")
    return Policy(
        ptype,
        _policy_strings(w.policy_string, ptype, i, out),
        _policy_domain(w.policy_domain, i, out),
        _mx_hosts(w, ptype, i, out),
    )


def _policy_strings(value: Any, ptype: str, i: int, out: Findings) -> list[str]:
    path = f"$.policies[{i}].policy.policy-string"
    if type(value) is str and ptype == "tlsa":
        # RFC 8460 §4; docs/conformance.md#policy-string: the §4 prose form, TLSA RRs separated by
        # semicolons.
        out.dev("policy-string-not-array", path, "policy-string is a string, not an array")
        return [s.strip() for s in value.split(";") if s.strip()]
    strings = _string_list(value, path, "policy-string", out)
    if strings is UNSET:
        # Mail.ru, Microsoft; docs/conformance.md#policy-string, #optional-failure-members
        if value is UNSET and ptype != "no-policy-found":
            out.missing("policy-string-missing", i)
        return []
    if len(strings) == 1 and strings[0].startswith("["):
        return unwrap_policy_strings(strings, i, out)
    return strings


def unwrap_policy_strings(strings: list[str], i: int, out: list[Deviation]) -> list[str]:
    """Microsoft (docs/conformance.md#policy-string): the array JSON-encoded into one string."""
    text = strings[0]
    try:
        inner = _UNWRAPPED[text]
    except KeyError:  # a domain's TLSA records come back day after day
        inner = _string_array(text)
        if memo_room(_UNWRAPPED, text, entries=4096, chars=4096):
            _UNWRAPPED[text] = inner
    if inner is None:
        return strings
    out.append(_JSON_ENCODED[i])
    return list(inner)


def _string_array(text: str) -> tuple[str, ...] | None:
    try:
        inner = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(inner) is list and all(type(s) is str for s in inner):
        return tuple(inner)
    return None


_UNWRAPPED: dict[str, tuple[str, ...] | None] = {}
_JSON_ENCODED = PerPolicy(
    "policy-string-json-encoded",
    ".policy.policy-string",
    "policy-string holds a JSON-encoded array in one string; unwrapped",
    True,
)


def _policy_domain(value: str | UnsetType | None, i: int, out: Findings) -> str | None:
    path = f"$.policies[{i}].policy.policy-domain"
    if value is None:
        out.dev("null-value", path, "policy-domain is null")
        return None
    # Postfix with libtlsrpt; docs/conformance.md#policy-domain
    if value is UNSET or not value.strip():
        out.missing("policy-domain-missing", i)
        return None
    if not is_normal_domain(value):
        value = normalize_domain(value)  # "fold": a U-label stays, flagged below
    if not value.isascii():  # RFC 8460 §4.4; docs/conformance.md#policy-domain
        out.dev("policy-domain-u-label", path, "policy-domain is not written in A-labels")
    return value


def _mx_hosts(w: WirePolicy, ptype: str, i: int, out: Findings) -> list[str]:
    path = f"$.policies[{i}].policy"
    if w.mx_host is UNSET and w.mx_host_pattern is not UNSET:
        out.dev(
            "mx-host-pattern-key",
            f"{path}.mx-host-pattern",
            "MX patterns under the prose name mx-host-pattern",
            violation=False,
        )
        mx = _string_list(w.mx_host_pattern, f"{path}.mx-host-pattern", "mx-host", out)
    else:
        mx = _string_list(w.mx_host, f"{path}.mx-host", "mx-host", out)
    if mx is UNSET:
        # RFC 8460 §4.4; docs/conformance.md#mx-host; Microsoft
        if w.mx_host is UNSET and ptype == "sts":
            out.missing("mx-host-missing", i)
        return []
    return mx


# ---- failure rows ---------------------------------------------------------

# RFC 8460 §4.4; docs/conformance.md#ip-addresses: text -> canonical text (None when not an
# address), memoized.
_IP_FORMS: dict[str, str | None] = {}


def _canonical_ip(text: str) -> str | None:
    try:
        return _IP_FORMS[text]
    except KeyError:
        pass
    try:
        canonical: str | None = ipaddress.ip_address(text).compressed
    except ValueError:
        canonical = None
    if memo_room(_IP_FORMS, text):
        _IP_FORMS[text] = canonical
    return canonical


_SENDING_IP = attrgetter("sending_mta_ip")
_RECEIVING_IP = attrgetter("receiving_ip")
_CANONICAL_IPS: set[str | None] = {None}  # texts known to be canonical
_RESULT_TYPE = attrgetter("result_type")
_FAILED_COUNT = attrgetter("failed_session_count")


def ips_canonical(details: list[FailureDetail]) -> bool:
    """Whether every address in the rows is already in RFC 5952 form."""
    known = _CANONICAL_IPS
    for d in details:  # (a plain loop beats set algebra over so few rows)
        if d.sending_mta_ip not in known or d.receiving_ip not in known:
            return _learn_ips(details)
    return True


def _learn_ips(details: list[FailureDetail]) -> bool:
    ips = set(map(_SENDING_IP, details))
    ips.update(map(_RECEIVING_IP, details))
    ok = True
    for ip in ips - _CANONICAL_IPS:
        if _canonical_ip(ip) != ip:
            ok = False
        elif memo_room(_CANONICAL_IPS, ip):
            _CANONICAL_IPS.add(ip)
    _CANONICAL_IPS.add(None)  # (absent: nothing to check; the memo may be new)
    return ok


def implausible_sessions(policies: list[PolicyResult], limit: int) -> str | None:
    """Why the report's counts are beyond belief (`Limits.max_sessions`),
    or None: its sessions and, apart, its failure-details sessions."""
    sessions = failed_rows = 0
    for p in policies:
        s = p.summary
        sessions += s.total_successful_session_count + s.total_failure_session_count
        if p.failure_details:
            failed_rows += sum(map(_FAILED_COUNT, p.failure_details))
    if sessions > limit:
        return f"{sessions} sessions in one report: not plausible (at most {limit})"
    if failed_rows > limit:
        return f"{failed_rows} sessions in failure-details rows: not plausible (at most {limit})"
    return None


def result_types_registered(details: list[FailureDetail]) -> bool:
    return set(map(_RESULT_TYPE, details)) <= RESULT_TYPE_SET


def _rows(rows: list[WireRow], base: str, out: Findings) -> list[FailureDetail]:
    details = []
    for j, row in enumerate(rows):
        t = astuple(row)
        if type(t[1]) is int and t[8] is None and "" not in t and 0 <= t[1] <= MAX_IJSON_INT:
            details.append(FailureDetail(*t[:8]))
        else:
            details.append(_quirky_row(row, f"{base}.failure-details[{j}]", out))
    if not result_types_registered(details):
        for j, d in enumerate(details):
            if d.result_type not in RESULT_TYPE_SET:
                _fix_result_type(d, f"{base}.failure-details[{j}].result-type", out)
    if not ips_canonical(details):
        for j, d in enumerate(details):
            for attr in ("sending_mta_ip", "receiving_ip"):
                ip = getattr(d, attr)
                if ip is not None and _canonical_ip(ip) != ip:
                    path = f"{base}.failure-details[{j}].{attr.replace('_', '-')}"
                    _fix_ip(d, attr, path, out)
    return details


def _quirky_row(row: WireRow, path: str, out: Findings) -> FailureDetail:
    count = _count(row.failed_session_count, f"{path}.failed-session-count", out)
    values: dict[str, str | None] = {}
    for field in WireRow.__struct_fields__[2:8]:
        value = getattr(row, field)
        if value == "":  # Google sent "sending-mta-ip": "" (docs/conformance.md#sender-quirks)
            name = field.replace("_", "-")
            out.dev("empty-value", f"{path}.{name}", f"{name} is an empty string")
            value = None
        values[field] = value
    if values["additional_information"] is None and row.additional_info_uri is not None:
        out.dev(
            "additional-info-uri-key",
            f"{path}.additional-info-uri",
            "additional information under the prose name additional-info-uri",
            violation=False,
        )
        values["additional_information"] = row.additional_info_uri or None
    return FailureDetail(row.result_type, count, **values)


def _fix_result_type(d: FailureDetail, path: str, out: Findings) -> None:
    lowered = d.result_type.strip().lower()
    if lowered in RESULT_TYPE_SET:
        out.dev("result-type-case", path, f"result-type {d.result_type!r}")
        d.result_type = lowered
    else:  # RFC 8460 §6.6; docs/conformance.md#result-types: kept verbatim
        out.dev(
            "result-type-unregistered",
            path,
            f"result-type {d.result_type!r} is not in the IANA registry",
            violation=False,
        )


def _fix_ip(d: FailureDetail, attr: str, path: str, out: Findings) -> None:
    canonical = _canonical_ip(getattr(d, attr))
    if canonical is None:
        out.dev("ip-invalid", path, "not an IPv4 or IPv6 address; kept as given")
    else:
        out.dev("ip-not-canonical", path, "IP address not in canonical form (RFC 5952); normalized")
        setattr(d, attr, canonical)
