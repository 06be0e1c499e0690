"""Per-domain period analysis over roll-up and failure-detail rows."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.analysis.period import (
    ALL,
    DailyPoint,
    FailureRow,
    Period,
    RollupRow,
    analyze,
    analyze_domain,
    new_failure_types,
    ranked,
    rate,
    stopped_reporters,
)

D0 = date(2026, 3, 1)
WEEK = Period.ending(D0 + timedelta(days=6), 7)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def top(domain: str, n: int, org: str, ok: int, failed: int, reports: int = 1) -> RollupRow:
    return RollupRow(domain, day(n), org, ALL, ALL, reports, ok, failed)


def per_type(domain: str, n: int, org: str, ok: int, failed: int) -> RollupRow:
    return RollupRow(domain, day(n), org, "sts", ALL, 1, ok, failed)


def result(domain: str, n: int, org: str, result_type: str, failed: int) -> RollupRow:
    return RollupRow(domain, day(n), org, "sts", result_type, 1, 0, failed)


def detail(
    domain: str, n: int, result_type: str, failed: int, ip: str | None, mx: str | None
) -> FailureRow:
    return FailureRow(domain, day(n), result_type, failed, ip, mx)


# -- Period ---------------------------------------------------------------


def test_period_days_previous_and_membership() -> None:
    assert WEEK.start == D0 and WEEK.days == 7
    assert WEEK.previous() == Period(day(-7), day(-1))
    assert day(0) in WEEK and day(6) in WEEK
    assert day(7) not in WEEK and day(-1) not in WEEK
    assert "2026-03-01" not in WEEK
    assert WEEK.each_day() == [day(n) for n in range(7)]
    assert Period(D0, D0).days == 1


def test_period_rejects_reversed_and_empty() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Period(day(1), day(0))
    with pytest.raises(ValueError, match="at least one day"):
        Period.ending(D0, 0)


def test_rate_is_none_without_sessions() -> None:
    assert rate(0, 0) is None
    assert rate(0, 5) == 0.0
    assert rate(5, 0) == 1.0
    assert rate(1, 3) == 0.25


def test_ranked_orders_and_drops_zero() -> None:
    assert ranked({"b": 2, "a": 2, "c": 5, "z": 0, None: 2}) == [
        ("c", 5),
        ("a", 2),
        ("b", 2),
        (None, 2),
    ]


# -- analyze --------------------------------------------------------------


def test_no_data_gives_all_gaps() -> None:
    a = analyze_domain("example.com", WEEK, [], [])
    assert a.reports == a.sessions == a.failed_sessions == 0
    assert a.failure_rate is None
    assert a.days_with_data == 0
    assert all(p == DailyPoint(p.day, 0, None, None) for p in a.daily)
    assert [p.day for p in a.daily] == WEEK.each_day()
    assert a.reporters == [] and a.failures_by_result_type == [] and a.failures_by_mx == []
    assert analyze(WEEK, []) == {}


def test_gap_is_distinct_from_a_reported_day_with_zero_sessions() -> None:
    a = analyze_domain("example.com", WEEK, [top("example.com", 2, "Google Inc.", 0, 0)])
    gap, zero = a.daily[1], a.daily[2]
    assert not gap.has_data and gap.successful_sessions is None and gap.failure_rate is None
    assert zero.has_data and zero.successful_sessions == 0 and zero.failed_sessions == 0
    assert zero.failure_rate is None  # no sessions: undefined, not 0 %
    assert a.days_with_data == 1


def test_one_day_all_failures() -> None:
    rows = [
        top("example.com", 0, "Google Inc.", 0, 7),
        per_type("example.com", 0, "Google Inc.", 0, 7),
        result("example.com", 0, "Google Inc.", "certificate-expired", 7),
    ]
    details = [detail("example.com", 0, "certificate-expired", 7, "192.0.2.1", "mx.example.com")]
    a = analyze_domain("example.com", Period(D0, D0), rows, details)
    assert a.failure_rate == 1.0
    assert a.daily == [DailyPoint(D0, 1, 0, 7)]
    assert a.daily[0].failure_rate == 1.0
    assert a.failures_by_result_type == [("certificate-expired", 7)]
    assert a.failures_by_organization == [("Google Inc.", 7)]
    assert a.failures_by_mx == [("mx.example.com", 7)]
    assert a.failures_by_sending_ip == [("192.0.2.1", 7)]


def test_breakdowns_and_totals_across_orgs_days_and_domains() -> None:
    rows = [
        top("example.com", 0, "Google Inc.", 90, 10, reports=2),
        per_type("example.com", 0, "Google Inc.", 90, 10),  # not double counted
        result("example.com", 0, "Google Inc.", "starttls-not-supported", 6),
        # RFC 8460 §4; docs/conformance.md#failure-counts: 11 > 10
        result("example.com", 0, "Google Inc.", "validation-failure", 5),
        top("example.com", 3, "Microsoft Corporation", 50, 0),
        top("example.com", 3, "Google Inc.", 40, 2),
        result("example.com", 3, "Google Inc.", "starttls-not-supported", 2),
        top("other.test", 3, "Google Inc.", 1, 1),
        top("example.com", 9, "Google Inc.", 1000, 1000),  # outside the period
    ]
    details = [
        detail("example.com", 0, "starttls-not-supported", 6, "192.0.2.1", "mx1.example.com"),
        detail("example.com", 0, "validation-failure", 5, "192.0.2.2", "mx2.example.com"),
        detail("example.com", 3, "starttls-not-supported", 2, "192.0.2.1", "mx1.example.com"),
        # Microsoft; docs/conformance.md#optional-failure-members: no MX, no IP
        detail("example.com", 3, "sts-policy-fetch-error", 4, None, None),
        detail("other.test", 3, "certificate-expired", 9, "192.0.2.9", "mx.other.test"),
        detail("example.com", 8, "certificate-expired", 9, "192.0.2.9", "mx1.example.com"),
    ]
    result_all = analyze(WEEK, rows, details, domains=["quiet.test"])
    assert list(result_all) == ["example.com", "other.test", "quiet.test"]
    assert result_all["quiet.test"].days_with_data == 0
    a = result_all["example.com"]
    assert a == analyze_domain("example.com", WEEK, rows, details)
    assert (a.reports, a.successful_sessions, a.failed_sessions) == (4, 180, 12)
    assert a.failure_rate == pytest.approx(12 / 192)
    assert [
        (p.day, p.reports, p.successful_sessions, p.failed_sessions) for p in a.daily if p.has_data
    ] == [
        (day(0), 2, 90, 10),
        (day(3), 2, 90, 2),
    ]
    assert a.days_with_data == 2
    assert a.failures_by_result_type == [("starttls-not-supported", 8), ("validation-failure", 5)]
    assert a.failures_by_organization == [("Google Inc.", 12)]
    assert a.failures_by_mx == [("mx1.example.com", 8), ("mx2.example.com", 5), (None, 4)]
    assert a.failures_by_sending_ip == [("192.0.2.1", 8), ("192.0.2.2", 5), (None, 4)]
    google, microsoft = a.reporters
    assert (
        google.organization,
        google.reports,
        google.successful_sessions,
        google.failed_sessions,
    ) == (
        "Google Inc.",
        3,
        130,
        12,
    )
    assert (google.first_day, google.last_day) == (day(0), day(3))
    assert (microsoft.organization, microsoft.first_day, microsoft.last_day) == (
        "Microsoft Corporation",
        day(3),
        day(3),
    )


def test_unknown_domain_key_is_kept() -> None:
    a = analyze(WEEK, [top("", 0, "Mail.Ru", 1, 0)])
    assert list(a) == [""]


# -- comparisons with the previous period -----------------------------------


def test_new_failure_types_and_stopped_reporters() -> None:
    prev_period = WEEK.previous()
    rows = [
        top("example.com", -6, "Mail.Ru", 10, 0),
        top("example.com", -3, "Mail.Ru", 10, 1),
        result("example.com", -3, "Mail.Ru", "sts-policy-fetch-error", 1),
        top("example.com", -2, "Yahoo", 5, 0),
        top("example.com", -5, "Google Inc.", 10, 0),
        top("example.com", 1, "Google Inc.", 10, 3),
        result("example.com", 1, "Google Inc.", "sts-policy-fetch-error", 1),
        result("example.com", 1, "Google Inc.", "certificate-expired", 2),
    ]
    now = analyze_domain("example.com", WEEK, rows)
    before = analyze_domain("example.com", prev_period, rows)
    assert new_failure_types(now, before) == ["certificate-expired"]
    assert new_failure_types(before, before) == []
    stopped = stopped_reporters(now, before)
    assert [(s.organization, s.last_day, s.previous_reports) for s in stopped] == [
        ("Yahoo", day(-2), 1),
        ("Mail.Ru", day(-3), 2),
    ]
    assert stopped_reporters(before, before) == []


def test_everything_is_new_after_a_period_without_data() -> None:
    rows = [
        top("example.com", 1, "Google Inc.", 1, 1),
        result("example.com", 1, "Google Inc.", "tlsa-invalid", 1),
    ]
    now = analyze_domain("example.com", WEEK, rows)
    empty = analyze_domain("example.com", WEEK.previous(), rows)
    assert new_failure_types(now, empty) == ["tlsa-invalid"]
    assert stopped_reporters(now, empty) == []
    # a period with no data after one with reports: every reporter stopped
    assert [(s.organization, s.last_day) for s in stopped_reporters(empty, now)] == [
        ("Google Inc.", day(1))
    ]


# -- properties ---------------------------------------------------------------

orgs = st.sampled_from(["Google Inc.", "Microsoft Corporation", "Mail.Ru", "<script>"])
types = st.sampled_from(["starttls-not-supported", "certificate-expired", "(empty)", "x-new"])
hosts = st.one_of(st.none(), st.sampled_from(["mx1.example.com", "mx2.example.com"]))
counts = st.integers(min_value=0, max_value=10**6)
days = st.integers(min_value=-3, max_value=10)

rollup_rows = st.builds(
    RollupRow,
    domain=st.sampled_from(["example.com", "other.test"]),
    day=days.map(day),
    organization=orgs,
    policy_type=st.sampled_from([ALL, "sts", "tlsa"]),
    result_type=st.one_of(st.just(ALL), types),
    reports=st.integers(min_value=1, max_value=5),
    successful_sessions=counts,
    failed_sessions=counts,
)
failure_rows = st.builds(
    FailureRow,
    domain=st.sampled_from(["example.com", "other.test"]),
    day=days.map(day),
    result_type=types,
    failed_sessions=counts,
    sending_ip=hosts,
    receiving_mx=hosts,
)


@given(st.lists(rollup_rows, max_size=40), st.lists(failure_rows, max_size=40))
def test_breakdowns_sum_to_their_totals(
    rollups: list[RollupRow], failures: list[FailureRow]
) -> None:
    for domain, a in analyze(WEEK, rollups, failures).items():
        mine = [r for r in rollups if r.domain == domain and r.day in WEEK]
        tops = [r for r in mine if r.policy_type == ALL and r.result_type == ALL]
        assert a.failed_sessions == sum(r.failed_sessions for r in tops)
        assert a.successful_sessions == sum(r.successful_sessions for r in tops)
        assert sum(n for _, n in a.failures_by_organization) == a.failed_sessions
        assert sum(r.failed_sessions for r in a.reporters) == a.failed_sessions
        assert sum(r.reports for r in a.reporters) == a.reports
        assert sum(p.failed_sessions or 0 for p in a.daily) == a.failed_sessions
        assert sum(p.successful_sessions or 0 for p in a.daily) == a.successful_sessions
        assert sum(p.reports for p in a.daily) == a.reports
        assert len(a.daily) == WEEK.days
        assert sum(n for _, n in a.failures_by_result_type) == sum(
            r.failed_sessions for r in mine if r.result_type != ALL
        )
        detail_total = sum(
            f.failed_sessions for f in failures if f.domain == domain and f.day in WEEK
        )
        assert sum(n for _, n in a.failures_by_mx) == detail_total
        assert sum(n for _, n in a.failures_by_sending_ip) == detail_total
        for breakdown in (a.failures_by_result_type, a.failures_by_mx, a.failures_by_sending_ip):
            assert all(n > 0 for _, n in breakdown)
            assert [n for _, n in breakdown] == sorted((n for _, n in breakdown), reverse=True)
        assert a.failure_rate is None or 0 <= a.failure_rate <= 1


@given(st.lists(rollup_rows, max_size=40))
def test_new_types_and_stopped_reporters_are_set_differences(rollups: list[RollupRow]) -> None:
    now = analyze_domain("example.com", WEEK, rollups)
    before = analyze_domain("example.com", WEEK.previous(), rollups)
    assert set(new_failure_types(now, before)) == {t for t, _ in now.failures_by_result_type} - {
        t for t, _ in before.failures_by_result_type
    }
    stopped = stopped_reporters(now, before)
    assert {s.organization for s in stopped} == {r.organization for r in before.reporters} - {
        r.organization for r in now.reporters
    }
    assert all(s.last_day in WEEK.previous() for s in stopped)
