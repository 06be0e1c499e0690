"""Reports inside e-mail (RFC 8460 §5.3) and the variants seen in practice."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from tlsrpt.report import ReportError, parse_input, parse_message
from tlsrpt.report.compose import compose_message, report_filename

SUBMITTER = "sender.example"


def build(
    body_part: bytes,
    *,
    ctype: str = "application/tlsrpt+gzip",
    filename: str | None = "sender.example!example.org!1743465600!1743551999!001.json.gz",
    top: str = 'multipart/report; report-type="tlsrpt"; boundary="BOUNDARY"',
    headers: str = "TLS-Report-Domain: example.org\r\nTLS-Report-Submitter: sender.example\r\n",
    first: str = "Content-Type: text/plain\r\n\r\nThis is a TLS report.\r\n",
    encode: str = "base64",
) -> bytes:
    payload = base64.encodebytes(body_part).decode() if encode == "base64" else body_part.decode()
    disposition = f'Content-Disposition: attachment; filename="{filename}"\r\n' if filename else ""
    return (
        "From: tlsrpt@sender.example\r\n"
        "Subject: Report Domain: example.org Submitter: sender.example "
        "Report-ID: <r-1@sender.example>\r\n"
        f"{headers}"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {top}\r\n\r\n"
        f"--BOUNDARY\r\n{first}"
        f"--BOUNDARY\r\nContent-Type: {ctype}\r\n{disposition}"
        f"Content-Transfer-Encoding: {encode}\r\n\r\n{payload}\r\n"
        "--BOUNDARY--\r\n"
    ).encode()


@pytest.fixture
def report_json(minimal) -> bytes:
    minimal["contact-info"] = "tlsrpt@sender.example"
    return json.dumps(minimal).encode()


def dev_codes(mail) -> list[str]:
    return [d.code for d in mail.deviations]


def test_rfc_message(report_json):
    mail = parse_message(build(gzip.compress(report_json)), strict=True)
    assert len(mail.reports) == 1 and mail.errors == []
    assert mail.deviations == []
    meta = mail.meta
    assert (meta.tls_report_domain, meta.tls_report_submitter) == ("example.org", SUBMITTER)
    assert meta.subject_parts is not None
    assert meta.subject_parts.report_id == "r-1@sender.example"
    part = mail.reports[0].part
    assert part.filename_parts is not None
    assert part.filename_parts.unique_id == "001"
    assert part.filename_parts.policy_domain == "example.org"


def test_json_attachment(report_json):
    mail = parse_message(build(report_json, ctype="application/tlsrpt+json", filename=None))
    assert mail.reports[0].parsed.compressed is False
    assert mail.deviations == []


@pytest.mark.parametrize(
    ("ctype", "filename", "gz", "expected"),
    [
        ("application/gzip", "r.json.gz", True, "mime-type-nonstandard"),
        ("application/x-gzip", None, True, "mime-type-nonstandard"),
        ("application/octet-stream", "a!b!1!2.json.gz", True, "mime-type-nonstandard"),
        ("application/json", None, False, "mime-type-nonstandard"),
        ("application/tlsrpt+gzip", "r.json.gz", False, "mime-gzip-type-json-content"),
        ("application/tlsrpt+json", "r.json", True, "mime-json-type-gzip-content"),
        ("text/plain", "report.json", False, "mime-type-nonstandard"),
    ],
)
def test_attachment_variants(report_json, ctype, filename, gz, expected):
    """RFC 8460 §5.3; docs/conformance.md#mime-parts and parsedmarc #568 / CHANGELOG magic-byte
    bug."""
    body = gzip.compress(report_json) if gz else report_json
    mail = parse_message(build(body, ctype=ctype, filename=filename))
    assert len(mail.reports) == 1
    assert expected in dev_codes(mail)


def test_octet_stream_without_report_name_is_ignored(report_json):
    with pytest.raises(ReportError) as info:
        parse_message(
            build(
                gzip.compress(report_json), ctype="application/octet-stream", filename="invoice.pdf"
            )
        )
    assert info.value.code == "no-report-in-message"


def test_microsoft_style_message(report_json):
    """Microsoft; docs/conformance.md#mime-parts: text/html first part, unquoted report-type, bare
    Report-ID."""
    data = build(
        gzip.compress(report_json),
        top="multipart/report; report-type=tlsrpt; boundary=BOUNDARY",
        first='Content-Type: text/html; charset="us-ascii"\r\n\r\n<p>report</p>\r\n',
    ).replace(b"Report-ID: <r-1@sender.example>", b"Report-ID:\r\n 133708152202987951+example.org")
    mail = parse_message(data)
    assert mail.meta.subject_parts is not None
    assert mail.meta.subject_parts.report_id == "133708152202987951+example.org"
    assert mail.deviations == []


def test_mailru_submitter_mismatch(minimal):
    """Mail.ru; RFC 8460 §5.3; docs/conformance.md#submitter-mismatch: warn only."""
    minimal["contact-info"] = "tls_support@corp.mail.example"
    data = build(
        gzip.compress(json.dumps(minimal).encode()),
        headers="TLS-Report-Domain: example.org\r\nTLS-Report-Submitter: mail.example\r\n",
    )
    mail = parse_message(data)
    assert "submitter-contact-mismatch" in dev_codes(mail)
    assert len(mail.reports) == 1


def test_missing_tls_report_headers(report_json):
    """RFC 8460 §5.3; docs/conformance.md#report-headers: accepted leniently, flagged; strict
    rejects."""
    data = build(gzip.compress(report_json), headers="")
    mail = parse_message(data)
    assert {"header-tls-report-domain-missing", "header-tls-report-submitter-missing"} <= set(
        dev_codes(mail)
    )
    with pytest.raises(ReportError) as info:
        parse_message(data, strict=True)
    assert info.value.code == "strict-violation"


def test_header_domain_disagrees_with_body(report_json):
    """RFC 8460 §5.6; docs/conformance.md#body-wins: the body is authoritative."""
    data = build(
        gzip.compress(report_json),
        headers="TLS-Report-Domain: other.example\r\nTLS-Report-Submitter: sender.example\r\n",
    )
    mail = parse_message(data)
    assert "header-domain-mismatch" in dev_codes(mail)
    assert mail.reports[0].parsed.report.policy_domains == ["example.org"]


def test_bare_report_as_whole_body(report_json):
    raw = (
        b"From: a@sender.example\r\nSubject: report\r\nContent-Type: application/tlsrpt+gzip\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(gzip.compress(report_json))
    )
    result = parse_input(raw)
    assert result.kind == "email"
    assert len(result.reports) == 1
    assert "mime-not-multipart-report" in [d.code for d in result.deviations]


def test_plain_body_json(report_json):
    raw = b"From: a@sender.example\r\nSubject: report\r\n\r\n" + report_json
    assert parse_input(raw).reports[0].report.report_id == "r-1"


def test_sloppy_base64_still_decodes(report_json):
    """parsedmarc #549: a strict base64 check broke Google reports."""
    b64 = base64.b64encode(gzip.compress(report_json)).decode().rstrip("=")
    wrapped = "\r\n".join(b64[i : i + 60] for i in range(0, len(b64), 60))
    data = build(wrapped.encode(), encode="8bit").replace(
        b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: BASE64"
    )
    assert len(parse_message(data).reports) == 1


def test_one_bad_part_does_not_lose_the_good_one(report_json):
    good = base64.encodebytes(gzip.compress(report_json)).decode()
    bad = base64.encodebytes(b"\x1f\x8b\x08\x00garbage").decode()
    data = (
        "Subject: two\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        f"--B\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{bad}\r\n"
        f"--B\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{good}\r\n"
        "--B--\r\n"
    ).encode()
    mail = parse_message(data)
    assert len(mail.reports) == 1
    assert [e.error.code for e in mail.errors] in (["gzip-invalid"], ["gzip-truncated"])
    assert mail.errors[0].part is not None and mail.errors[0].part.location == "part 1"


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: hello\r\n\r\nJust a note, no report.\r\n",
        b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
        b"\r\n\r\n\r\n",
        b"garbage without headers",
    ],
)
def test_no_report_in_message(data):
    with pytest.raises(ReportError) as info:
        parse_message(data)
    assert info.value.code == "no-report-in-message"


def test_broken_mime_boundary_still_finds_report(report_json):
    data = build(gzip.compress(report_json)).replace(b"--BOUNDARY--\r\n", b"")
    mail = parse_message(data)
    assert len(mail.reports) == 1
    assert "mime-defects" in dev_codes(mail)


def test_compose_round_trip(minimal):
    from tlsrpt.report import parse_report

    report = parse_report(json.dumps(minimal).encode()).report
    for gz in (True, False):
        msg = compose_message(
            report,
            submitter="sender.example",
            from_address="tlsrpt@sender.example",
            to_address="tls@example.org",
            gzip=gz,
            unique_id="x-1",
        )
        mail = parse_message(msg.as_bytes(), strict=True)
        assert mail.reports[0].parsed.report == report
        assert mail.meta.tls_report_domain == "example.org"
        name = report_filename(report, "sender.example", gzip=gz, unique_id="x-1")
        assert mail.reports[0].part.filename == name
        # RFC 8460 §5.1; docs/conformance.md#file-names: unique-id is alphanumeric only
        assert "!x1." in name


def test_nested_and_forwarded_reports(report_json):
    """A report forwarded as message/rfc822 inside multipart/mixed is found."""
    inner = build(gzip.compress(report_json)).decode()
    data = (
        "Subject: Fwd: TLS report\r\nContent-Type: multipart/mixed; boundary=OUTER\r\n\r\n"
        "--OUTER\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        f"--OUTER\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n"
        "--OUTER--\r\n"
    ).encode()
    mail = parse_message(data)
    assert len(mail.reports) == 1
    assert mail.reports[0].parsed.report.report_id == "r-1"
    assert mail.reports[0].part.filename_parts is not None


def test_part_limit(report_json):
    from tlsrpt.report import Limits

    many = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\n{i}\r\n" for i in range(50))
    data = f"Content-Type: multipart/mixed; boundary=B\r\n\r\n{many}--B--\r\n".encode()
    with pytest.raises(ReportError) as info:
        parse_message(data, limits=Limits(max_mime_parts=10))
    assert info.value.code == "mime-invalid"
