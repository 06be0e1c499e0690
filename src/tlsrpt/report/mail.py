"""Reports inside e-mail (RFC 8460 §5.3).

`parse_message(data)` finds the report parts of a message — the RFC's
multipart/report with `application/tlsrpt+gzip|json`, and the variants seen
in practice (`application/gzip`, `application/octet-stream` named
`*.json.gz`, gzip content under a JSON type and the reverse, a bare report
as the whole body) — and parses each. Content is recognised by its bytes
(gzip magic, `{`), never trusted from the declared type.
"""

from __future__ import annotations

import binascii
import contextlib
from email.header import decode_header, make_header
from email.message import Message

import msgspec

from tlsrpt.domains import normalize_domain
from tlsrpt.report.errors import ReportError
from tlsrpt.report.limits import DEFAULT_LIMITS, Limits, is_gzip
from tlsrpt.report.mime import leaf_parts, parse_headers
from tlsrpt.report.model import Deviation
from tlsrpt.report.names import ReportFilename, ReportSubject, parse_filename, parse_subject
from tlsrpt.report.parse import BOM, ParsedReport, parse_report

TLSRPT_TYPES = frozenset({"application/tlsrpt+gzip", "application/tlsrpt+json"})
_LENIENT_TYPES = frozenset(
    {
        "application/gzip",
        "application/x-gzip",
        "application/json",
        "application/x-json",
        "text/json",
        "application/octet-stream",
        "application/zip",
    }
)
_REPORT_SUFFIXES = (".json", ".json.gz", ".gz", ".json.gzip")


class MailMeta(msgspec.Struct):
    """Top-level header facts a receiver needs (RFC 8460 §5.3)."""

    tls_report_domain: str | None = None
    tls_report_submitter: str | None = None
    subject: str | None = None
    subject_parts: ReportSubject | None = None
    from_address: str | None = None
    message_id: str | None = None
    date: str | None = None
    content_type: str | None = None
    report_type: str | None = None


class MailPart(msgspec.Struct):
    location: str
    content_type: str
    filename: str | None
    filename_parts: ReportFilename | None
    size: int


class MailReport(msgspec.Struct):
    part: MailPart
    parsed: ParsedReport


class MailError(msgspec.Struct):
    part: MailPart | None
    error: ReportError


class MailParse(msgspec.Struct):
    meta: MailMeta
    reports: list[MailReport]
    errors: list[MailError]
    deviations: list[Deviation]


def _header(msg: Message, name: str) -> str | None:
    raw = msg.get(name)
    if raw is None:
        return None
    text = str(raw)
    if "=?" in text:
        # keep the undecoded text when decoding fails: never drop a header
        with contextlib.suppress(UnicodeError, LookupError, binascii.Error, ValueError):
            text = str(make_header(decode_header(text)))
    return " ".join(text.split()) or None


def _meta(msg: Message) -> MailMeta:
    ctype = msg.get_content_type()
    subject = _header(msg, "Subject")
    domain = _header(msg, "TLS-Report-Domain")
    submitter = _header(msg, "TLS-Report-Submitter")
    return MailMeta(
        tls_report_domain=normalize_domain(domain) if domain else None,
        tls_report_submitter=normalize_domain(submitter) if submitter else None,
        subject=subject,
        subject_parts=parse_subject(subject) if subject else None,
        from_address=_header(msg, "From"),
        message_id=_header(msg, "Message-ID"),
        date=_header(msg, "Date"),
        content_type=ctype,
        report_type=(msg.get_param("report-type") or None)  # type: ignore[arg-type]
        if ctype == "multipart/report"
        else None,
    )


def _payload(part: Message) -> bytes:
    """Transfer-decode leniently: base64 with bad padding or stray bytes still
    decodes (parsedmarc #549 broke on a strict base64 check)."""
    raw = part.get_payload(decode=False)
    if not isinstance(raw, str):
        return b""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        cleaned = "".join(raw.split())
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return binascii.a2b_base64(cleaned.encode("ascii", "ignore"))
        except binascii.Error:
            pass
    decoded = part.get_payload(decode=True)
    return decoded if isinstance(decoded, bytes) else raw.encode("utf-8", "surrogateescape")


def _looks_like_json(data: bytes) -> bool:
    return data.lstrip(BOM + b" \t\r\n")[:1] == b"{"


def _is_candidate(ctype: str, filename: str | None) -> bool:
    if ctype in TLSRPT_TYPES or ctype in _LENIENT_TYPES:
        return ctype != "application/octet-stream" or (
            filename is not None and filename.lower().endswith(_REPORT_SUFFIXES)
        )
    return filename is not None and filename.lower().endswith(_REPORT_SUFFIXES)


def _content_deviations(ctype: str, data: bytes, location: str) -> list[Deviation]:
    gz = is_gzip(data)
    if ctype == "application/tlsrpt+gzip" and not gz:
        return [Deviation("mime-gzip-type-json-content", location, "tlsrpt+gzip part holds JSON")]
    if ctype == "application/tlsrpt+json" and gz:
        return [Deviation("mime-json-type-gzip-content", location, "tlsrpt+json part holds gzip")]
    if ctype not in TLSRPT_TYPES:
        return [Deviation("mime-type-nonstandard", location, f"report sent as {ctype}")]
    return []


def parse_message(
    data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> MailParse:
    """Extract and parse every report in one RFC 5322 message.

    Raises ReportError only when the message as a whole is unusable (too
    large, or it carries no report at all); per-part failures are returned in
    `errors` so that good parts of a message are never lost to a bad one.
    """
    if not data:
        raise ReportError("empty-input", "no bytes to parse")
    if len(data) > limits.max_message_bytes:
        raise ReportError(
            "too-large", f"message of {len(data)} bytes, limit {limits.max_message_bytes}"
        )
    msg = parse_headers(data)
    meta = _meta(msg)
    parts, defects = leaf_parts(msg, limits.max_mime_parts)
    devs: list[Deviation] = []
    if defects:
        devs.append(Deviation("mime-defects", "message", "; ".join(defects)))
    if meta.content_type != "multipart/report":
        devs.append(
            Deviation("mime-not-multipart-report", "message", f"top-level {meta.content_type}")
        )
    elif (meta.report_type or "").lower() != "tlsrpt":
        devs.append(Deviation("mime-report-type", "message", "report-type is not tlsrpt"))
    if meta.tls_report_domain is None:  # RFC 8460 §5.3; docs/conformance.md#report-headers
        devs.append(Deviation("header-tls-report-domain-missing", "header", "no TLS-Report-Domain"))
    if meta.tls_report_submitter is None:
        devs.append(
            Deviation("header-tls-report-submitter-missing", "header", "no TLS-Report-Submitter")
        )

    reports: list[MailReport] = []
    errors: list[MailError] = []
    bare = len(parts) == 1 and parts[0][0] is msg  # a report as the whole body
    for index, (part, ctype) in enumerate(parts, start=1):
        filename = part.get_filename()
        if filename is not None:
            filename = " ".join(str(filename).split())
        location = f"part {index}"
        if not (_is_candidate(ctype, filename) or bare):
            continue
        payload = _payload(part)
        if bare and not (is_gzip(payload) or _looks_like_json(payload)):
            continue
        info = MailPart(
            location=location,
            content_type=ctype,
            filename=filename,
            filename_parts=parse_filename(filename) if filename else None,
            size=len(payload),
        )
        devs.extend(_content_deviations(ctype, payload, location))
        try:
            parsed = parse_report(payload, strict=strict, limits=limits)
        except ReportError as exc:
            errors.append(MailError(info, exc))
            continue
        reports.append(MailReport(info, parsed))
        devs.extend(_consistency(meta, parsed, location))

    if not reports and not errors:
        raise ReportError("no-report-in-message", "the message carries no TLS report", "message")
    if strict:
        for dev in devs:
            if dev.violation:
                raise ReportError("strict-violation", f"{dev.code}: {dev.message}", dev.path)
    return MailParse(meta, reports, errors, devs)


def _consistency(meta: MailMeta, parsed: ParsedReport, location: str) -> list[Deviation]:
    """Header/body agreement (RFC 8460 §5.3, §5.6; docs/conformance.md#submitter-mismatch,
    #body-wins: the body wins)."""
    out: list[Deviation] = []
    report = parsed.report
    if (
        meta.tls_report_domain
        and report.policy_domains
        and (meta.tls_report_domain not in report.policy_domains)
    ):
        out.append(
            Deviation(
                "header-domain-mismatch",
                location,
                f"TLS-Report-Domain {meta.tls_report_domain} is not a policy-domain of the report",
                violation=False,
            )
        )
    contact = report.contact_info or ""
    contact_domain = contact.rpartition("@")[2].lower()
    if meta.tls_report_submitter and contact_domain and meta.tls_report_submitter != contact_domain:
        # Mail.ru: Submitter mail.ru, contact-info @corp.mail.ru
        # (docs/conformance.md#submitter-mismatch)
        out.append(
            Deviation(
                "submitter-contact-mismatch",
                location,
                f"TLS-Report-Submitter {meta.tls_report_submitter} differs from the "
                f"contact-info domain {contact_domain}",
            )
        )
    return out
