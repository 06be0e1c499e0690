"""Parsed report -> rows and roll-up increments (pure functions)."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlsrpt.ingest.rows import (
    attribution_day,
    build_rows,
    clean_text,
    dedup_key,
    report_from_rows,
)
from tlsrpt.report import (
    DateRange,
    FailureDetail,
    ParsedReport,
    Policy,
    PolicyResult,
    Report,
    Summary,
    parse_report,
)
from tlsrpt.report.attribution import Context, attribute
from tlsrpt.store.schema import ALL, EMPTY


def _doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "organization-name": "Example Org",
        "date-range": {
            "start-datetime": "2024-03-01T00:00:00Z",
            "end-datetime": "2024-03-01T23:59:59Z",
        },
        "contact-info": "tls@org.example",
        "report-id": "r-1",
        "policies": [
            {
                "policy": {"policy-type": "sts", "policy-domain": "example.com"},
                "summary": {"total-successful-session-count": 9, "total-failure-session-count": 1},
                "failure-details": [
                    {"result-type": "certificate-expired", "failed-session-count": 1}
                ],
            }
        ],
    }
    doc.update(over)
    return doc


def _parsed(**over: Any) -> ParsedReport:
    return parse_report(orjson.dumps(_doc(**over)))


def test_same_report_in_any_encoding_has_one_key_and_one_content() -> None:
    """RFC 8460 §5.3; docs/conformance.md#de-duplication: formatting, compression and mail do not
    make a report new."""
    compact = orjson.dumps(_doc())
    pretty = orjson.dumps(_doc(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    rows = [build_rows(parse_report(b)) for b in (compact, pretty, gzip.compress(compact))]
    assert len({r.dedup_key for r in rows}) == 1
    assert len({r.content_sha256 for r in rows}) == 1


def test_dedup_key_is_organization_report_id_and_start() -> None:
    base = dedup_key(_parsed().report)
    assert dedup_key(_parsed(**{"organization-name": "  example   ORG "}).report) == base
    later = {"start-datetime": "2024-03-02T00:00:00Z", "end-datetime": "2024-03-02T23:59:59Z"}
    assert dedup_key(_parsed(**{"date-range": later}).report) != base
    assert dedup_key(_parsed(**{"report-id": "r-2"}).report) != base
    assert dedup_key(_parsed(**{"organization-name": "Other"}).report) != base
    # end-datetime is not part of the key: a resend with a corrected end is the same report
    longer = {"start-datetime": "2024-03-01T00:00:00Z", "end-datetime": "2024-03-02T00:00:00Z"}
    assert dedup_key(_parsed(**{"date-range": longer}).report) == base
    # without an organization name the contact-info domain stands in
    unnamed = dedup_key(_parsed(**{"organization-name": ""}).report)
    assert unnamed == dedup_key(_parsed(**{"organization-name": "org.example"}).report)


@pytest.mark.parametrize(
    ("start", "end", "day"),
    [
        ("2024-03-01T00:00:00Z", "2024-03-01T23:59:59Z", date(2024, 3, 1)),
        ("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z", date(2024, 3, 1)),
        ("2024-03-01T00:00:00+02:00", "2024-03-02T00:00:00+02:00", date(2024, 3, 1)),
        ("2024-03-01T00:00:00-08:00", "2024-03-01T23:59:59-08:00", date(2024, 3, 1)),
        ("2024-03-01T00:00:00", "2024-03-01T23:59:59", date(2024, 3, 1)),
        ("2024-03-05T00:00:00Z", "2024-03-01T00:00:00Z", date(2024, 3, 5)),
        ("9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z", date(9999, 12, 31)),
    ],
)
def test_attribution_day_is_the_middle_of_the_range(start: str, end: str, day: date) -> None:
    """RFC 8460 §4.1; docs/conformance.md#date-range: 23:59:59, the next midnight and local offsets
    all name the same UTC day; an inverted range counts on its start."""
    parsed = _parsed(**{"date-range": {"start-datetime": start, "end-datetime": end}})
    assert attribution_day(parsed.report) == day


def _named(rows: Any) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows as the database gives them back (dates and times parsed)."""
    report = rows.report._asdict()
    for key in ("start_at", "end_at"):
        report[key] = datetime.fromisoformat(report[key])
    policies = [p._asdict() for p in rows.policies]
    failures = [f._asdict() for f in rows.failures]
    return report, policies, failures


def test_missing_policy_domain_falls_back_in_order() -> None:
    """RFC 8460 §5.6; docs/conformance.md#body-wins: the body wins; without it header, Subject, file
    name."""
    nameless = _doc()
    del nameless["policies"][0]["policy"]["policy-domain"]
    parsed = parse_report(orjson.dumps(nameless))
    hints = [
        (
            Context("hdr.example", None, "subj.example", "file.example"),
            "hdr.example",
            "report-domain-header",
        ),
        (Context(None, None, "subj.example", "file.example"), "subj.example", "subject"),
        (Context(None, None, None, "FILE.example."), "file.example", "file-name"),
        (Context(), "", "unknown"),
    ]
    for hint, expected, how in hints:
        _, policies, _ = _named(build_rows(parsed, context=hint))
        assert (policies[0]["policy_domain"], policies[0]["domain"]) == (None, expected)
        assert policies[0]["attribution"] == how
    _, policies, _ = _named(build_rows(_parsed(), context=Context("hdr.example")))
    assert (policies[0]["domain"], policies[0]["attribution"]) == ("example.com", "reported")


def test_rollups_count_a_report_once_per_domain_and_level() -> None:
    policies = [
        {
            "policy": {"policy-type": "sts", "policy-domain": "a.example"},
            "summary": {"total-successful-session-count": 5, "total-failure-session-count": 2},
            "failure-details": [
                {"result-type": "certificate-expired", "failed-session-count": 1},
                {"result-type": "certificate-expired", "failed-session-count": 1},
                {"result-type": "", "failed-session-count": 4},
            ],
        },
        {
            "policy": {"policy-type": "tlsa", "policy-domain": "a.example"},
            "summary": {"total-successful-session-count": 7, "total-failure-session-count": 0},
        },
        {
            "policy": {"policy-type": "sts", "policy-domain": "b.example"},
            "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0},
        },
    ]
    rows = build_rows(_parsed(policies=policies))
    day, org = "2024-03-01", "Example Org"  # as stored
    assert rows.rollups == {
        ("a.example", day, org, ALL, ALL): [1, 12, 2],
        ("a.example", day, org, "sts", ALL): [1, 5, 2],
        ("a.example", day, org, "sts", "certificate-expired"): [1, 0, 2],
        ("a.example", day, org, "sts", EMPTY): [1, 0, 4],
        ("a.example", day, org, "tlsa", ALL): [1, 7, 0],
        ("b.example", day, org, ALL, ALL): [1, 1, 0],
        ("b.example", day, org, "sts", ALL): [1, 1, 0],
    }
    report, _, failures = _named(rows)
    assert (report["successful_sessions"], report["failed_sessions"]) == (13, 2)
    assert [f["result_type"] for f in failures] == ["certificate-expired"] * 2 + [""]


def test_values_that_cannot_be_stored() -> None:
    rows = build_rows(_parsed(**{"report-id": "id\u0000x"}))
    report, _, _ = _named(rows)
    assert report["report_id"] == "id\ufffdx"
    assert "nul-character" in report["deviations"]


def test_clean_text() -> None:
    assert clean_text("plain") == "plain"
    assert clean_text("a\x00b") == "a\ufffdb"
    assert clean_text("caf\udce9") == "caf\ufffd"  # a Latin-1 byte decoded with surrogateescape
    assert clean_text("café") == "café"


_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)
_name = st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){1,2}", fullmatch=True)
_count = st.integers(0, 2**53 - 1)
_detail = st.builds(
    FailureDetail,
    result_type=st.sampled_from(["certificate-expired", "starttls-not-supported", "x-new"]),
    failed_session_count=_count,
    sending_mta_ip=st.none() | st.ip_addresses().map(str),
    receiving_mx_hostname=st.none() | _name,
    receiving_mx_helo=st.none() | _text,
    receiving_ip=st.none() | st.ip_addresses().map(str),
    additional_information=st.none() | _text,
    failure_reason_code=st.none() | _text,
)
_policy = st.builds(
    PolicyResult,
    policy=st.builds(
        Policy,
        policy_type=st.sampled_from(["sts", "tlsa", "no-policy-found"]),
        policy_string=st.lists(_text, max_size=3),
        policy_domain=_name,
        mx_host=st.lists(_name, max_size=2),
    ),
    summary=st.builds(Summary, _count, _count),
    failure_details=st.lists(_detail, max_size=3),
)
_start = st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)


@st.composite
def _reports(draw: st.DrawFn) -> Report:
    start = draw(_start)
    return Report(
        organization_name=draw(st.from_regex(r"[A-Za-z][A-Za-z ]{0,10}[a-z]", fullmatch=True)),
        date_range=DateRange(start, start + timedelta(seconds=draw(st.integers(1, 200_000)))),
        contact_info=draw(st.none() | st.just("tls@org.example")),
        report_id=draw(_text),
        policies=draw(st.lists(_policy, min_size=1, max_size=4)),
    )


@settings(max_examples=150, deadline=None)
@given(_reports())
def test_rows_give_the_report_back_and_rollups_add_up(report: Report) -> None:
    rows = build_rows(ParsedReport(report, []))
    named, policies, failures = _named(rows)
    again = report_from_rows(named, policies, failures)
    expected_org = " ".join(report.organization_name.split())
    assert again == Report(
        expected_org, report.date_range, report.contact_info, report.report_id, report.policies
    )
    domain_level = [c for k, c in rows.rollups.items() if k[3] == ALL]
    assert sum(c[1] for c in domain_level) == report.successful_sessions
    assert sum(c[2] for c in domain_level) == report.failed_sessions
    # a report counts once per domain it is attributed to
    assert sum(c[0] for c in domain_level) == len({a.domain for a in attribute(report)})
    failed_by_type = sum(c[2] for k, c in rows.rollups.items() if k[4] != ALL)
    assert failed_by_type == sum(
        d.failed_session_count for p in report.policies for d in p.failure_details
    )
