"""Conformant reports parse in both modes with no deviations (RFC 8460 §4)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from tlsrpt.report import RESULT_TYPES, ReportError, parse_report


def test_minimal_report_strict_and_lenient(minimal):
    data = json.dumps(minimal).encode()
    for strict in (False, True):
        parsed = parse_report(data, strict=strict)
        assert parsed.deviations == []
        r = parsed.report
        assert r.organization_name == "Example Sender"
        assert r.date_range.start_datetime == datetime(2025, 4, 1, tzinfo=UTC)
        assert r.date_range.end_exclusive == datetime(2025, 4, 2, tzinfo=UTC)
        assert r.policies[0].policy.mx_host == ["mx.example.org"]
        assert r.policies[0].failure_details[0].result_type == "certificate-expired"
        assert (r.successful_sessions, r.failed_sessions) == (10, 1)
        assert r.policy_domains == ["example.org"]


def test_gzip_detected_by_magic_bytes(minimal):
    data = gzip.compress(json.dumps(minimal).encode())
    parsed = parse_report(data)
    assert parsed.compressed is True
    assert parsed.report.report_id == "r-1"


def test_multi_member_gzip(minimal):
    text = json.dumps(minimal).encode()
    half = len(text) // 2
    data = gzip.compress(text[:half]) + gzip.compress(text[half:])
    assert parse_report(data).report.report_id == "r-1"


def test_all_eleven_registered_result_types(fixture_bytes):
    """RFC 8460 §6.6; docs/conformance.md#result-types: every IANA result type is known."""
    parsed = parse_report(fixture_bytes("all-result-types.json"), strict=True)
    seen = {f.result_type for p in parsed.report.policies for f in p.failure_details}
    assert seen == set(RESULT_TYPES)
    assert len(RESULT_TYPES) == 11
    assert parsed.deviations == []


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2025-04-01T00:00:00Z", datetime(2025, 4, 1, tzinfo=UTC)),
        # RFC 8460 §4.4; docs/conformance.md#date-times
        ("2025-04-01t00:00:00z", datetime(2025, 4, 1, tzinfo=UTC)),
        ("2025-04-01T02:00:00+02:00", datetime(2025, 4, 1, tzinfo=UTC)),
        ("2025-04-01T00:00:00.250Z", datetime(2025, 4, 1, 0, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_rfc3339_forms_are_conformant(minimal, start, expected):
    minimal["date-range"]["start-datetime"] = start
    parsed = parse_report(json.dumps(minimal).encode(), strict=True)
    assert parsed.report.date_range.start_datetime == expected


def test_failure_sum_need_not_match_total(minimal):
    """RFC 8460 §4; docs/conformance.md#failure-counts: failure types are not exclusive; no sum
    check."""
    minimal["policies"][0]["failure-details"][0]["failed-session-count"] = 7
    assert parse_report(json.dumps(minimal).encode(), strict=True).report.failed_sessions == 1


def test_sts_and_tlsa_for_same_mx(minimal):
    """RFC 8460 §4; docs/conformance.md#several-policies: an sts and a tlsa entry for the same
    domain and MX."""
    tlsa = json.loads(json.dumps(minimal["policies"][0]))
    tlsa["policy"] = {
        "policy-type": "tlsa",
        "policy-string": ["3 1 1 AB" + "00" * 31],
        "policy-domain": "example.org",
        "mx-host": [],
    }
    minimal["policies"].append(tlsa)
    parsed = parse_report(json.dumps(minimal).encode(), strict=True)
    assert [p.policy.policy_type for p in parsed.report.policies] == ["sts", "tlsa"]


def test_extension_members_are_ignored(minimal):
    minimal["x-vendor"] = {"nested": [1, 2, {"a": None}]}
    minimal["policies"][0]["policy"]["x-note"] = "hello"
    assert parse_report(json.dumps(minimal).encode(), strict=True).deviations == []


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda r: r.pop("organization-name"), "$"),
        (lambda r: r.pop("report-id"), "$"),
        (lambda r: r.pop("date-range"), "$"),
        (lambda r: r.pop("policies"), "$"),
        (lambda r: r["policies"][0].pop("summary"), "$.policies[0]"),
        (lambda r: r["policies"][0]["policy"].pop("policy-type"), "$.policies[0].policy"),
        (
            lambda r: r["policies"][0]["failure-details"][0].pop("result-type"),
            "$.policies[0].failure-details[0]",
        ),
        (
            lambda r: r["policies"][0]["failure-details"][0].pop("failed-session-count"),
            "$.policies[0].failure-details[0]",
        ),
        (lambda r: r.__setitem__("organization-name", 5), "$.organization-name"),
        (lambda r: r.__setitem__("policies", "x"), "$.policies"),
    ],
)
def test_required_members_and_types(minimal, mutate, path):
    mutate(minimal)
    for strict in (False, True):
        with pytest.raises(ReportError) as info:
            parse_report(json.dumps(minimal).encode(), strict=strict)
        assert info.value.code == "schema"
        assert info.value.path == path


@pytest.mark.parametrize(
    ("value", "reason"),
    [(-1, "negative"), (1.5, "whole number"), ("ten", "not a number"), (True, "")],
)
def test_bad_counts_rejected(minimal, value, reason):
    minimal["policies"][0]["summary"]["total-successful-session-count"] = value
    with pytest.raises(ReportError) as info:
        parse_report(json.dumps(minimal).encode())
    assert info.value.path == "$.policies[0].summary.total-successful-session-count"
    assert reason in info.value.reason


def test_unparseable_datetime_rejected(minimal):
    minimal["date-range"]["end-datetime"] = "yesterday"
    with pytest.raises(ReportError) as info:
        parse_report(json.dumps(minimal).encode())
    assert info.value.path == "$.date-range.end-datetime"
