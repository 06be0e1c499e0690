"""RFC 8460 §5.1 file names and §5.3 subjects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tlsrpt.report import parse_filename, parse_subject


def test_rfc_filename():
    """RFC 8460 §5.1; docs/conformance.md#file-names."""
    parts = parse_filename("mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz")
    assert parts is not None
    assert parts.sender == "mail.sndr.example.com"
    assert parts.policy_domain == "example.net"
    assert parts.begin == datetime(2016, 8, 1, 1, 0, 7, tzinfo=UTC)
    assert parts.unique_id == "001"
    assert parts.extension == "json.gz"


@pytest.mark.parametrize(
    "name",
    [
        "google.com!example.org!1740787200!1740873599!001.json.gz",
        "microsoft.com!example.org!1740787200!1740873599!133852608001234567.json.gz",
        "/tmp/x/sender!dom!1!2.json",
        "sender!dom!1!2.gz",
    ],
)
def test_filename_variants(name):
    assert parse_filename(name) is not None


@pytest.mark.parametrize(
    "name", ["report.json", "a!b!c!d.json", "a!b!1!2.txt", "a!b!1!2!x!y.json", ""]
)
def test_not_report_filenames(name):
    assert parse_filename(name) is None


@pytest.mark.parametrize(
    ("subject", "domain", "submitter", "rid"),
    [
        (
            "Report Domain: example.org Submitter: google.com "
            "Report-ID: <2024.09.15T00.00.00Z+example.org@google.com>",
            "example.org",
            "google.com",
            "2024.09.15T00.00.00Z+example.org@google.com",
        ),
        (
            "Report Domain: example.org Submitter: microsoft.com Report-ID:\n 1337+example.org",
            "example.org",
            "microsoft.com",
            "1337+example.org",
        ),
        (
            "report domain: EXAMPLE.org submitter: x.example report-id: <1730332800_1>",
            "example.org",
            "x.example",
            "1730332800_1",
        ),
        ("Fwd: Report Domain: example.org Submitter: s.example", "example.org", "s.example", None),
    ],
)
def test_subjects(subject, domain, submitter, rid):
    parts = parse_subject(subject)
    assert parts is not None
    assert (parts.policy_domain, parts.submitter, parts.report_id) == (domain, submitter, rid)


def test_unrelated_subject():
    assert parse_subject("Cron <root@host> update") is None
