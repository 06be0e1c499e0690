"""Enforce-readiness verdicts (RFC 8461 §5.1: enforce refuses delivery on
policy failures) for ready, not-ready and insufficient-data domains."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.analysis.period import ALL, FailureRow, Period, RollupRow, analyze_domain
from tlsrpt.analysis.readiness import ReadinessConfig, Verdict, assess, large_senders_in

END = date(2026, 3, 31)
MONTH = Period.ending(END, 30)
DOMAIN = "example.com"


def days_of(org: str, n_days: int, ok: int, failed: int = 0) -> list[RollupRow]:
    return [
        RollupRow(DOMAIN, END - timedelta(days=n), org, ALL, ALL, 1, ok, failed)
        for n in range(n_days)
    ]


def failures_of(org: str, n_days: int, result_type: str, failed: int) -> list[RollupRow]:
    return [
        RollupRow(DOMAIN, END - timedelta(days=n), org, "sts", result_type, 1, 0, failed)
        for n in range(n_days)
    ]


def checks(readiness) -> dict[str, bool]:
    return {r.check: r.passed for r in readiness.reasons}


def test_ready_domain() -> None:
    rows = days_of("Google Inc.", 30, 500, 1) + days_of("Microsoft Corporation", 20, 300)
    rows += failures_of("Google Inc.", 30, "tlsa-invalid", 1)  # DANE only: not lost by STS enforce
    r = assess(analyze_domain(DOMAIN, MONTH, rows))
    assert r.verdict == Verdict.READY == "ready"
    assert r.problems == ()
    assert r.large_senders == ("Google", "Microsoft")
    texts = {x.check: x.text for x in r.reasons}
    assert texts["days"] == "30 days with reports out of 30 (minimum 14)"
    assert texts["sessions"] == f"{30 * 501 + 20 * 300:,} sessions reported (minimum 100)"
    assert texts["large-senders"] == "large senders reporting: Google, Microsoft"
    assert texts["failure-rate"] == "failure rate 0.14% (threshold 1.00%)"
    assert (
        texts["dane-failures"]
        == "DANE failures to fix anyway: 30 failed sessions with tlsa-invalid"
    )


def test_not_ready_domain_names_the_blocking_failures_and_their_mx() -> None:
    rows = days_of("Google Inc.", 30, 1000, 2) + failures_of(
        "Google Inc.", 30, "certificate-expired", 2
    )
    details = [
        FailureRow(DOMAIN, END, "certificate-expired", 40, "192.0.2.1", "mx2.example.com"),
        FailureRow(DOMAIN, END, "certificate-expired", 20, "192.0.2.1", "mx1.example.com"),
        FailureRow("other.test", END, "certificate-expired", 99, "192.0.2.1", "mx.other.test"),
    ]
    r = assess(analyze_domain(DOMAIN, MONTH, rows, details), failures=details)
    assert r.verdict == Verdict.NOT_READY
    assert checks(r)["failure-rate"]  # 0.2 %: below the threshold
    assert [p.check for p in r.problems] == ["blocking-failures"]
    assert r.problems[0].text == (
        "failures that enforce would turn into lost mail: 60 failed sessions with "
        "certificate-expired (MX: mx2.example.com, mx1.example.com)"
    )


def test_high_failure_rate_is_not_ready_even_with_little_data() -> None:
    rows = days_of("small.test", 2, 10, 10) + failures_of("small.test", 2, "dnssec-invalid", 10)
    r = assess(analyze_domain(DOMAIN, MONTH, rows))
    assert r.verdict == Verdict.NOT_READY
    assert {p.check for p in r.problems} == {"days", "sessions", "large-senders", "failure-rate"}
    assert checks(r)["blocking-failures"]


def test_insufficient_data_domain() -> None:
    r = assess(analyze_domain(DOMAIN, MONTH, days_of("Google Inc.", 5, 1000)))
    assert r.verdict == Verdict.INSUFFICIENT_DATA
    assert [p.check for p in r.problems] == ["days"]
    assert r.problems[0].text == "5 days with reports out of 30 (minimum 14)"


def test_no_data_at_all_is_insufficient() -> None:
    r = assess(analyze_domain(DOMAIN, MONTH, []))
    assert r.verdict == Verdict.INSUFFICIENT_DATA
    assert {p.check for p in r.problems} == {"days", "sessions", "large-senders"}
    texts = {x.check: x.text for x in r.reasons}
    assert texts["failure-rate"] == "no sessions to compute a failure rate"
    assert texts["large-senders"] == "no large sender (e.g. Google, Microsoft) has reported yet"
    assert texts["sessions"] == "0 sessions reported (minimum 100)"


def test_only_small_senders_is_insufficient() -> None:
    r = assess(analyze_domain(DOMAIN, MONTH, days_of("mx.egressif.io", 30, 100)))
    assert r.verdict == Verdict.INSUFFICIENT_DATA
    assert [p.check for p in r.problems] == ["large-senders"]
    relaxed = ReadinessConfig(min_large_senders=0)
    assert (
        assess(analyze_domain(DOMAIN, MONTH, days_of("mx.egressif.io", 30, 100)), relaxed).verdict
        == "ready"
    )


def test_unregistered_failure_types_are_unexplained_and_block() -> None:
    rows = [
        *days_of("Google Inc.", 30, 1000, 1),
        RollupRow(DOMAIN, END, "Google Inc.", "sts", "(empty)", 1, 0, 1),
    ]
    r = assess(analyze_domain(DOMAIN, MONTH, rows))
    assert r.verdict == Verdict.NOT_READY
    assert "1 failed session with (empty)" in r.problems[0].text


def test_thresholds_are_configurable() -> None:
    rows = days_of("Google Inc.", 30, 990, 10) + failures_of(
        "Google Inc.", 30, "sts-policy-fetch-error", 10
    )
    a = analyze_domain(DOMAIN, MONTH, rows)
    assert assess(a).verdict == Verdict.NOT_READY
    lenient = ReadinessConfig(max_failure_rate=0.02, max_blocking_failures=300)
    assert assess(a, lenient).verdict == Verdict.READY
    assert (
        assess(a, ReadinessConfig(max_failure_rate=0.02, max_blocking_failures=299)).verdict
        == "not-ready"
    )
    assert (
        assess(a, ReadinessConfig(max_failure_rate=0.005, max_blocking_failures=300)).verdict
        == "not-ready"
    )


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        ReadinessConfig().min_days = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("organizations", "expected"),
    [
        (["Google Inc."], ("Google",)),
        (["MICROSOFT CORPORATION", "Mail.Ru"], ("Microsoft", "Mail.ru")),
        (["Yahoo Inc", "google.com"], ("Google", "Yahoo")),
        (["mx.egressif.io", "refluxstop.de"], ()),
        ([], ()),
    ],
)
def test_large_senders_recognised_from_organization_names(
    organizations: list[str], expected: tuple[str, ...]
) -> None:
    assert large_senders_in(organizations, ReadinessConfig()) == expected


counts = st.integers(min_value=0, max_value=10**5)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=40),
            st.sampled_from(["Google Inc.", "Microsoft Corporation", "small.test"]),
            st.sampled_from([ALL, "certificate-expired", "tlsa-invalid", "x-new"]),
            counts,
            counts,
        ),
        max_size=30,
    )
)
def test_verdict_is_consistent_with_the_reasons(rows: list[tuple[int, str, str, int, int]]) -> None:
    rollups = [
        RollupRow(
            DOMAIN, END - timedelta(days=n), org, ALL if t == ALL else "sts", t, 1, ok, failed
        )
        for n, org, t, ok, failed in rows
    ]
    r = assess(analyze_domain(DOMAIN, MONTH, rollups))
    failed = {p.check for p in r.problems}
    if failed & {"failure-rate", "blocking-failures"}:
        assert r.verdict == Verdict.NOT_READY
    elif failed:
        assert r.verdict == Verdict.INSUFFICIENT_DATA
    else:
        assert r.verdict == Verdict.READY
    assert "dane-failures" not in failed
