"""RFC 8460 reports: model, parse (JSON, gzip, e-mail), serialize.

Public API:
- `parse_report(data, strict=False, limits=DEFAULT_LIMITS) -> ParsedReport`
  for one JSON or gzip report (gzip recognised by magic bytes);
- `parse_message(data, ...) -> MailParse` for an RFC 5322 message;
- `parse_input(data, ...) -> ParsedInput`: any of the above, sniffed;
- `to_json(report)`, `to_gzip(report)`, `report_to_dict(report)`;
- `parse_filename`, `parse_subject` for RFC 8460 §5.1/§5.3 names;
- every rejection is a `ReportError(code, reason, path)`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from tlsrpt.report.errors import ReportError
from tlsrpt.report.limits import DEFAULT_LIMITS, Limits, is_gzip
from tlsrpt.report.mail import MailError, MailMeta, MailParse, MailPart, MailReport, parse_message
from tlsrpt.report.model import (
    POLICY_TYPES,
    RESULT_TYPES,
    DateRange,
    Deviation,
    FailureDetail,
    Policy,
    PolicyResult,
    Report,
    Summary,
)
from tlsrpt.report.names import ReportFilename, ReportSubject, parse_filename, parse_subject
from tlsrpt.report.parse import BOM, ParsedReport, parse_report
from tlsrpt.report.serialize import report_to_dict, to_gzip, to_json

InputKind = Literal["json", "gzip", "email"]


class ParsedInput(msgspec.Struct):
    """One input of any kind: the reports found, the parts that failed."""

    kind: InputKind
    reports: list[ParsedReport]
    errors: list[ReportError]
    deviations: list[Deviation]
    mail: MailParse | None = None


def sniff(data: bytes) -> InputKind:
    """What the bytes are: gzip by magic, JSON by its first brace, else mail."""
    if is_gzip(data):
        return "gzip"
    if data.lstrip(BOM + b" \t\r\n")[:1] == b"{":
        return "json"
    return "email"


def parse_input(
    data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> ParsedInput:
    """Parse a report file or an e-mail message; raises ReportError when no
    report at all could be read from it."""
    kind = sniff(data)
    if kind != "email":
        parsed = parse_report(data, strict=strict, limits=limits)
        return ParsedInput(kind, [parsed], [], list(parsed.deviations))
    mail = parse_message(data, strict=strict, limits=limits)
    return ParsedInput(
        "email",
        [r.parsed for r in mail.reports],
        [e.error for e in mail.errors],
        mail.deviations,
        mail,
    )


__all__ = [
    "DEFAULT_LIMITS",
    "POLICY_TYPES",
    "RESULT_TYPES",
    "DateRange",
    "Deviation",
    "FailureDetail",
    "Limits",
    "MailError",
    "MailMeta",
    "MailParse",
    "MailPart",
    "MailReport",
    "ParsedInput",
    "ParsedReport",
    "Policy",
    "PolicyResult",
    "Report",
    "ReportError",
    "ReportFilename",
    "ReportSubject",
    "Summary",
    "parse_filename",
    "parse_input",
    "parse_message",
    "parse_report",
    "parse_subject",
    "report_to_dict",
    "sniff",
    "to_gzip",
    "to_json",
]
