"""Build RFC 8460 §5.3 report e-mails and §5.1 file names (sending side).

DKIM signing (RFC 8460 §3, docs/conformance.md#dkim-signing) is applied to the bytes this returns
by whoever sends it, covering the TLS-Report-* headers (RFC 8460 §5.3).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from tlsrpt.report.model import Report
from tlsrpt.report.serialize import to_gzip, to_json


def report_filename(
    report: Report, submitter: str, *, gzip: bool = True, unique_id: str = ""
) -> str:
    """RFC 8460 §5.1; docs/conformance.md#file-names:
    sender!policy-domain!begin!end[!unique-id].json[.gz]."""
    domain = report.policy_domains[0] if report.policy_domains else "unknown"
    begin = int(report.date_range.start_datetime.timestamp())
    end = int(report.date_range.end_datetime.timestamp())
    # RFC 8460 §5.1; docs/conformance.md#file-names
    uid = "".join(ch for ch in unique_id if ch.isalnum())
    name = f"{submitter}!{domain}!{begin}!{end}" + (f"!{uid}" if uid else "")
    return name + (".json.gz" if gzip else ".json")


def compose_message(
    report: Report,
    *,
    submitter: str,
    from_address: str,
    to_address: str,
    gzip: bool = True,
    unique_id: str = "",
) -> EmailMessage:
    """A multipart/report; report-type="tlsrpt" message (RFC 8460 §5.3)."""
    domain = report.policy_domains[0] if report.policy_domains else "unknown"
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = to_address
    # RFC 8460 §5.3; docs/conformance.md#subject-line: Report Domain: ... Submitter: ... Report-ID:
    # <msg-id form>
    rid = report.report_id if "@" in report.report_id else f"{report.report_id}@{submitter}"
    msg["Subject"] = f"Report Domain: {domain} Submitter: {submitter} Report-ID: <{rid}>"
    msg["Date"] = format_datetime(report.date_range.end_exclusive)
    msg["Message-ID"] = make_msgid(domain=submitter)
    msg["TLS-Report-Domain"] = domain  # RFC 8460 §5.3; docs/conformance.md#report-headers
    msg["TLS-Report-Submitter"] = submitter
    msg["MIME-Version"] = "1.0"
    msg.set_content(
        f"This is an aggregate TLS report from {submitter} for {domain} "
        f"covering {report.date_range.start_datetime:%Y-%m-%d}.\n"
    )
    payload = to_gzip(report) if gzip else to_json(report)
    subtype = "tlsrpt+gzip" if gzip else "tlsrpt+json"
    msg.add_attachment(
        payload,
        maintype="application",
        subtype=subtype,
        filename=report_filename(report, submitter, gzip=gzip, unique_id=unique_id),
    )
    msg.replace_header("Content-Type", "multipart/report")
    msg.set_param("report-type", "tlsrpt")
    return msg
