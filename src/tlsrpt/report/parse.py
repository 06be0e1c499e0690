"""Parse RFC 8460 §4 JSON reports, plain or gzip, strictly or leniently.

`parse_report(data)` is a pure function over bytes. Lenient mode (the
default) accepts what real senders send and returns every quirk it accepted
as a `Deviation`; strict mode rejects any deviation that RFC 8460 forbids.
All rejections are `ReportError` with a JSON path and a reason.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from tlsrpt.report.errors import ReportError
from tlsrpt.report.limits import DEFAULT_LIMITS, Limits, gunzip, is_gzip
from tlsrpt.report.model import (
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
from tlsrpt.report.wire import (
    Count,
    WireFailureDetail,
    WirePolicy,
    WirePolicyResult,
    WireReport,
    decoder,
)

BOM = b"\xef\xbb\xbf"
MAX_IJSON_INT = 2**53 - 1  # RFC 7493 §2.2

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)")
_VALIDATION_AT = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)


class ParsedReport(msgspec.Struct, gc=False):
    report: Report
    deviations: list[Deviation]
    compressed: bool = False

    def as_dict(self) -> dict[str, Any]:
        from tlsrpt.report.serialize import report_to_dict

        return {
            "report": report_to_dict(self.report),
            "deviations": [msgspec.structs.asdict(d) for d in self.deviations],
        }


def parse_report(
    data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> ParsedReport:
    """Parse one report given as JSON or gzip-compressed JSON bytes.

    Gzip is detected by its magic bytes only (R8460-5.1-b), never by a file
    name or a content type.
    """
    if not data:
        raise ReportError("empty-input", "no bytes to parse")
    if len(data) > limits.max_input_bytes:
        raise ReportError("too-large", f"{len(data)} bytes, limit {limits.max_input_bytes}")
    compressed = is_gzip(data)
    body = gunzip(data, limits) if compressed else data
    if len(body) > limits.max_decompressed_bytes:
        raise ReportError(
            "decompressed-too-large", f"{len(body)} bytes, limit {limits.max_decompressed_bytes}"
        )
    return _parse_json(body, strict=strict, limits=limits, compressed=compressed)


def _parse_json(body: bytes, *, strict: bool, limits: Limits, compressed: bool) -> ParsedReport:
    devs: list[Deviation] = []
    if body.startswith(BOM):  # RFC 8259 §8.1: parsers MAY ignore a BOM
        body = body[3:]
        devs.append(Deviation("utf8-bom", "$", "UTF-8 byte order mark before the JSON"))
    _check_depth(body, limits.max_depth)
    if strict:
        _check_duplicate_keys(body)
    try:
        wire = decoder.decode(body)
    except UnicodeDecodeError as exc:
        raise ReportError("not-utf8", f"invalid UTF-8 at byte {exc.start}") from exc
    except msgspec.ValidationError as exc:
        match = _VALIDATION_AT.match(str(exc))
        assert match is not None
        raise ReportError("schema", match["reason"], match["path"] or "$") from exc
    except msgspec.DecodeError as exc:
        raise ReportError("json-invalid", str(exc)) from exc
    report = _Normalizer(devs, limits).report(wire)
    if strict:
        for dev in devs:
            if dev.violation:
                raise ReportError("strict-violation", f"{dev.code}: {dev.message}", dev.path)
    return ParsedReport(report, devs, compressed)


def _check_depth(body: bytes, max_depth: int) -> None:
    """Refuse nesting deeper than `max_depth` before any decoder recurses."""
    if body.count(b"{") + body.count(b"[") <= max_depth:
        return
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):
            depth += 1
            if depth > max_depth:
                raise ReportError("too-deep", f"JSON nested deeper than {max_depth} levels")
        elif byte in (0x7D, 0x5D):
            depth -= 1


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ReportError("duplicate-key", f"member {key!r} appears twice (RFC 7493 §2.3)")
        obj[key] = value
    return obj


def _check_duplicate_keys(body: bytes) -> None:
    """R8460-4-a: a report is I-JSON, so member names are unique."""
    try:
        json.loads(body, object_pairs_hook=_reject_duplicates)
    except ReportError:
        raise
    except (ValueError, RecursionError):
        pass  # malformed JSON: the typed decoder reports it with a better message


@lru_cache(maxsize=4096)
def _datetime(text: str) -> tuple[datetime, str | None]:
    """RFC 3339 §5.6 date-time -> aware UTC datetime, plus a deviation code."""
    if _RFC3339.fullmatch(text):
        return datetime.fromisoformat(text.upper()).astimezone(UTC), None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an RFC 3339 date-time: {text[:64]!r}") from None
    if value.tzinfo is None:  # Microsoft, checklist D8
        return value.replace(tzinfo=UTC), "datetime-no-offset"
    return value.astimezone(UTC), "datetime-not-rfc3339"


@lru_cache(maxsize=8192)
def _ip(text: str) -> tuple[str, str | None]:
    """R8460-4.4-j: canonical text of an IP address, plus a deviation code."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text, "ip-invalid"
    canonical = address.compressed
    return canonical, (None if canonical == text else "ip-not-canonical")


_DEVIATION_TEXT = {
    "datetime-no-offset": "date-time without UTC offset; assumed UTC",
    "datetime-not-rfc3339": "date-time not in RFC 3339 form",
    "ip-invalid": "not an IPv4 or IPv6 address; kept as given",
    "ip-not-canonical": "IP address not in canonical form (RFC 5952); normalized",
}


class _Normalizer:
    """Turns wire types into the model, recording what it had to accept."""

    __slots__ = ("devs", "failure_rows", "limits")

    def __init__(self, devs: list[Deviation], limits: Limits) -> None:
        self.devs = devs
        self.limits = limits
        self.failure_rows = 0

    def dev(self, code: str, path: str, message: str, violation: bool = True) -> None:
        self.devs.append(Deviation(code, path, message, violation))

    def report(self, w: WireReport) -> Report:
        policies = w.policies
        if not isinstance(policies, list):  # R8460-4-b
            self.dev("policies-not-array", "$.policies", "policies is an object, not an array")
            policies = [policies]
        if len(policies) > self.limits.max_policies:
            raise ReportError(
                "too-many-policies",
                f"{len(policies)} policies, limit {self.limits.max_policies}",
                "$.policies",
            )
        report_id = w.report_id
        if not isinstance(report_id, str):
            self.dev("report-id-not-string", "$.report-id", "report-id is a number")
            report_id = str(report_id)
        contact = w.contact_info
        if contact is UNSET:
            self.dev("contact-info-missing", "$.contact-info", "contact-info is missing")
            contact = None
        elif contact is None:  # checklist O1
            self.dev("contact-info-null", "$.contact-info", "contact-info is null")
        elif not contact:
            self.dev("empty-value", "$.contact-info", "contact-info is empty")
            contact = None
        return Report(
            organization_name=w.organization_name,
            date_range=self.date_range(w.date_range.start_datetime, w.date_range.end_datetime),
            contact_info=contact,
            report_id=report_id,
            policies=[self.policy_result(p, i) for i, p in enumerate(policies)],
        )

    def when(self, text: str, path: str) -> datetime:
        try:
            value, code = _datetime(text)
        except ValueError as exc:
            raise ReportError("schema", str(exc), path) from None
        if code:
            self.dev(code, path, _DEVIATION_TEXT[code])
        return value

    def date_range(self, start_text: str, end_text: str) -> DateRange:
        start = self.when(start_text, "$.date-range.start-datetime")
        end = self.when(end_text, "$.date-range.end-datetime")
        if end < start:
            self.dev("date-range-inverted", "$.date-range", "end-datetime is before start-datetime")
        elif end.hour == end.minute == end.second == 0 and end - start == timedelta(days=1):
            # R8460-4.1-b: legal reading of "24:00", but not the App. B form.
            self.dev(
                "end-datetime-next-midnight",
                "$.date-range.end-datetime",
                "range ends at the next day's 00:00:00 instead of 23:59:59",
                violation=False,
            )
        return DateRange(start, end)

    def count(self, value: Count | UnsetType, path: str) -> int:
        if type(value) is int:
            if 0 <= value <= MAX_IJSON_INT:
                return value
            if value < 0:
                raise ReportError("schema", "session count is negative", path)
            self.dev("number-too-large", path, "integer beyond I-JSON range (RFC 7493 §2.2)")
            return value
        if isinstance(value, float):
            if value.is_integer() and value >= 0:
                self.dev("number-not-integer", path, "session count written as a float")
                return int(value)
            raise ReportError("schema", f"session count {value!r} is not a whole number", path)
        if value is UNSET:
            self.dev("count-missing", path, "session count is missing; taken as 0")
            return 0
        if isinstance(value, str) and value.strip().isdigit():
            self.dev("number-as-string", path, "session count written as a string")
            return int(value)
        raise ReportError("schema", f"session count {value!r} is not a number", path)

    def policy_result(self, w: WirePolicyResult, i: int) -> PolicyResult:
        base = f"$.policies[{i}]"
        summary = Summary(
            self.count(
                w.summary.total_successful_session_count,
                f"{base}.summary.total-successful-session-count",
            ),
            self.count(
                w.summary.total_failure_session_count,
                f"{base}.summary.total-failure-session-count",
            ),
        )
        wire_details = w.failure_details
        if wire_details is UNSET or wire_details is None:
            # R8460-4-f: Google and Microsoft omit it when there are no failures.
            self.dev(
                "failure-details-missing",
                f"{base}.failure-details",
                "failure-details is " + ("null" if wire_details is None else "missing"),
                violation=wire_details is None,
            )
            details: list[FailureDetail] = []
        else:
            self.failure_rows += len(wire_details)
            if self.failure_rows > self.limits.max_failure_details:
                raise ReportError(
                    "too-many-failure-details",
                    f"more than {self.limits.max_failure_details} failure-details rows",
                    f"{base}.failure-details",
                )
            details = [
                self.failure(d, f"{base}.failure-details[{j}]") for j, d in enumerate(wire_details)
            ]
        return PolicyResult(self.policy(w.policy, f"{base}.policy"), summary, details)

    def string_list(self, value: Any, path: str, name: str) -> list[str]:
        """A list-of-strings member given as a list, a string, null or absent."""
        if isinstance(value, list):
            return value
        if value is None:
            self.dev("null-value", path, f"{name} is null")
            return []
        if value is UNSET:
            return []
        self.dev(f"{name}-not-array", path, f"{name} is a string, not an array")
        return [value]

    def policy(self, w: WirePolicy, path: str) -> Policy:
        ptype = w.policy_type
        if ptype not in POLICY_TYPES:
            lowered = ptype.strip().lower()
            if lowered in POLICY_TYPES:
                self.dev("policy-type-case", f"{path}.policy-type", f"policy-type {ptype!r}")
                ptype = lowered
            else:  # R8460-4.4-e: kept, never fatal
                self.dev(
                    "policy-type-unknown", f"{path}.policy-type", f"unknown policy-type {ptype!r}"
                )
        strings = self.policy_strings(w.policy_string, ptype, f"{path}.policy-string")
        mx = self.mx_hosts(w, ptype, path)
        domain = w.policy_domain
        if domain is UNSET or domain is None or not domain:
            # checklist O2: Postfix/libtlsrpt omits it for no-policy-found
            self.dev("policy-domain-missing", f"{path}.policy-domain", "policy-domain is missing")
            domain = None
        else:
            domain = domain.strip().rstrip(".").lower()
            if not domain.isascii():  # R8460-4.4-g
                self.dev(
                    "policy-domain-u-label",
                    f"{path}.policy-domain",
                    "policy-domain is not written in A-labels",
                )
        return Policy(ptype, strings, domain, mx)

    def policy_strings(self, value: Any, ptype: str, path: str) -> list[str]:
        if value is UNSET:
            if ptype != "no-policy-found":  # checklist M1, D5
                self.dev("policy-string-missing", path, "policy-string is missing")
            return []
        strings = self.string_list(value, path, "policy-string")
        if len(strings) == 1 and strings[0].startswith("["):
            # Microsoft (checklist D2): the array JSON-encoded into one string.
            try:
                inner = orjson.loads(strings[0])
            except orjson.JSONDecodeError:
                return strings
            if isinstance(inner, list) and all(isinstance(s, str) for s in inner):
                self.dev(
                    "policy-string-json-encoded",
                    path,
                    "policy-string holds a JSON-encoded array in one string; unwrapped",
                )
                return inner
        elif isinstance(value, str) and ptype == "tlsa" and ";" in value:
            return [s.strip() for s in value.split(";") if s.strip()]  # R8460-4-g
        return strings

    def mx_hosts(self, w: WirePolicy, ptype: str, path: str) -> list[str]:
        if w.mx_host is UNSET and w.mx_host_pattern is not UNSET:
            self.dev(
                "mx-host-pattern-key",
                f"{path}.mx-host-pattern",
                "MX patterns under the prose name mx-host-pattern",
                violation=False,
            )
            return self.string_list(w.mx_host_pattern, f"{path}.mx-host-pattern", "mx-host")
        if w.mx_host is UNSET:
            if ptype == "sts":  # R8460-4.4-h; Microsoft omits it (checklist D3)
                self.dev("mx-host-missing", f"{path}.mx-host", "mx-host is missing for sts")
            return []
        return self.string_list(w.mx_host, f"{path}.mx-host", "mx-host")

    def optional(self, value: Any, path: str, name: str) -> str | None:
        if value is UNSET:
            return None
        if value is None:
            self.dev("null-value", path, f"{name} is null")
            return None
        if not value:
            self.dev("empty-value", path, f"{name} is an empty string")
            return None
        return value  # type: ignore[no-any-return]

    def ip(self, value: Any, path: str, name: str) -> str | None:
        text = self.optional(value, path, name)
        if text is None:
            return None
        canonical, code = _ip(text)
        if code:
            self.dev(code, path, _DEVIATION_TEXT[code])
        return canonical

    def failure(self, w: WireFailureDetail, path: str) -> FailureDetail:
        rtype = w.result_type
        if rtype not in RESULT_TYPE_SET:
            lowered = rtype.strip().lower()
            if lowered in RESULT_TYPE_SET:
                self.dev("result-type-case", f"{path}.result-type", f"result-type {rtype!r}")
                rtype = lowered
            else:  # R8460-6.6-a: kept verbatim
                self.dev(
                    "result-type-unregistered",
                    f"{path}.result-type",
                    f"result-type {rtype!r} is not in the IANA registry",
                    violation=False,
                )
        info = self.optional(
            w.additional_information, f"{path}.additional-information", "additional-information"
        )
        if info is None and w.additional_info_uri is not UNSET:
            self.dev(
                "additional-info-uri-key",
                f"{path}.additional-info-uri",
                "additional information under the prose name additional-info-uri",
                violation=False,
            )
            info = self.optional(
                w.additional_info_uri, f"{path}.additional-info-uri", "additional-info-uri"
            )
        return FailureDetail(
            result_type=rtype,
            failed_session_count=self.count(w.failed_session_count, f"{path}.failed-session-count"),
            sending_mta_ip=self.ip(w.sending_mta_ip, f"{path}.sending-mta-ip", "sending-mta-ip"),
            receiving_mx_hostname=self.optional(
                w.receiving_mx_hostname, f"{path}.receiving-mx-hostname", "receiving-mx-hostname"
            ),
            receiving_mx_helo=self.optional(
                w.receiving_mx_helo, f"{path}.receiving-mx-helo", "receiving-mx-helo"
            ),
            receiving_ip=self.ip(w.receiving_ip, f"{path}.receiving-ip", "receiving-ip"),
            additional_information=info,
            failure_reason_code=self.optional(
                w.failure_reason_code, f"{path}.failure-reason-code", "failure-reason-code"
            ),
        )
