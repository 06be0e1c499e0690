"""Alert conditions from stored reports and the quarantine: every rule,
holding and not holding, thresholds and per-domain overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tlsrpt.analysis.alert_model import AlertState, Condition
from tlsrpt.analysis.alert_reports import (
    FailureCount,
    ReportData,
    failure_rate,
    new_failing_mx_hosts,
    new_result_types,
    quarantine_condition,
    read_plan,
    report_conditions,
    reports_missing,
    silent_reporters,
)
from tlsrpt.analysis.alert_settings import parse_alert_settings

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
RULES = parse_alert_settings(None).for_domain("example.com")


def day(n: int) -> date:
    """n days before today."""
    return TODAY - timedelta(days=n)


def _active(condition: Condition) -> dict[tuple[str, str], AlertState]:
    state = AlertState(
        1,
        condition.rule,
        condition.subject,
        "firing",
        condition.severity,
        condition.summary,
        condition.explanation,
        condition.fix,
        dict(condition.evidence),
        None,
        True,
        None,
        NOW,
        None,
        1,
    )
    return {condition.key: state}


def _daily(
    window: tuple[int, int], baseline: tuple[int, int] = (10_000, 0)
) -> dict[date, tuple[int, int]]:
    """Yesterday and today `window` (split), the 14 days before `baseline` each."""
    out = {day(n): baseline for n in range(2, 16)}
    out[day(1)] = (window[0] // 2, window[1] // 2)
    out[day(0)] = (window[0] - window[0] // 2, window[1] - window[1] // 2)
    return out


# --- report-failure-rate ----------------------------------------------------------


def test_failure_rate_over_the_threshold() -> None:
    found = failure_rate(ReportData("example.com", _daily((900, 100))), RULES, NOW)
    assert found is not None
    assert (found.rule, found.subject, found.severity) == ("report-failure-rate", "", "warning")
    assert found.evidence["failure_rate"] == 0.1
    assert found.evidence["failed_sessions"] == 100
    assert "10.0 %" in found.summary and "threshold of 5.0 %" in found.summary


def test_failure_rate_under_the_threshold_and_its_baseline_is_nothing() -> None:
    assert (
        failure_rate(ReportData("example.com", _daily((990, 10), (9_900, 100))), RULES, NOW) is None
    )


def test_failure_rate_needs_min_sessions() -> None:
    assert failure_rate(ReportData("example.com", _daily((50, 49))), RULES, NOW) is None
    low = parse_alert_settings({"rules": {"report-failure-rate": {"min_sessions": 10}}})
    assert failure_rate(
        ReportData("example.com", _daily((50, 49))), low.for_domain("example.com"), NOW
    )


def test_failure_rate_over_a_multiple_of_the_baseline() -> None:
    # 3 % now, 0.5 % during the 14 days before: under 5 %, but 6 times the baseline.
    data = ReportData("example.com", _daily((970, 30), (9_950, 50)))
    found = failure_rate(data, RULES, NOW)
    assert found is not None
    assert found.evidence["baseline_failure_rate"] == 0.005
    assert "3 times or more" in found.summary
    # 1.2 % against a baseline of 0.5 %: under 3 times.
    assert (
        failure_rate(ReportData("example.com", _daily((988, 12), (9_950, 50))), RULES, NOW) is None
    )
    # Under min_rate (1 %) even against a clean baseline.
    assert (
        failure_rate(ReportData("example.com", _daily((995, 5), (10_000, 0))), RULES, NOW) is None
    )


def test_failure_rate_thresholds_per_domain() -> None:
    settings = parse_alert_settings(
        {
            "domains": {
                "noisy.example": {
                    "rules": {"report-failure-rate": {"threshold": 0.5, "min_rate": 0.5}}
                }
            }
        }
    )
    data = _daily((900, 100))
    assert (
        failure_rate(ReportData("noisy.example", data), settings.for_domain("noisy.example"), NOW)
        is None
    )
    assert (
        failure_rate(ReportData("example.com", data), settings.for_domain("example.com"), NOW)
        is not None
    )


def test_failure_rate_window_excludes_older_days() -> None:
    old_failures = {day(n): (100, 100) for n in range(2, 5)} | {day(1): (500, 0), day(0): (500, 0)}
    assert failure_rate(ReportData("example.com", old_failures), RULES, NOW) is None


# --- report-new-result-type / report-new-failing-mx ------------------------------------


FAILURES = [
    FailureCount(day(0), "certificate-expired", "mx2.example.com", 7),
    FailureCount(day(1), "certificate-expired", "mx2.example.com", 3),
    FailureCount(day(1), "starttls-not-supported", "mx1.example.com", 2),
]


def test_new_result_type_fires_for_types_never_seen_before() -> None:
    data = ReportData(
        "example.com", failures=FAILURES, result_types_before=frozenset({"starttls-not-supported"})
    )
    (found,) = new_result_types(data, {}, RULES, NOW)
    assert (found.rule, found.subject) == ("report-new-result-type", "certificate-expired")
    assert found.evidence["failed_sessions"] == 10
    assert found.evidence["first_day"] == str(day(1))
    assert "certificate" in found.explanation.lower()  # the result type's own explanation
    assert found.fix


def test_new_result_type_holds_while_failing_once_fired() -> None:
    first = ReportData("example.com", failures=FAILURES)
    fired = {c.subject: c for c in new_result_types(first, {}, RULES, NOW)}
    assert set(fired) == {"certificate-expired", "starttls-not-supported"}
    # Two days later both were seen before the window; the alerted one still fails.
    later = NOW + timedelta(days=2)
    data = ReportData(
        "example.com",
        failures=[FailureCount(later.date(), "certificate-expired", "mx2.example.com", 1)],
        result_types_before=frozenset({"certificate-expired", "starttls-not-supported"}),
    )
    (held,) = new_result_types(data, _active(fired["certificate-expired"]), RULES, later)
    assert held.subject == "certificate-expired"
    assert new_result_types(data, {}, RULES, later) == []
    quiet = ReportData("example.com", result_types_before=frozenset({"certificate-expired"}))
    assert new_result_types(quiet, _active(fired["certificate-expired"]), RULES, later) == []


def test_new_result_type_window_is_configurable_and_ignores_older_days() -> None:
    old = [FailureCount(day(5), "validation-failure", None, 4)]
    assert new_result_types(ReportData("example.com", failures=old), {}, RULES, NOW) == []
    wide = parse_alert_settings({"rules": {"report-new-result-type": {"window_days": 7}}})
    (found,) = new_result_types(
        ReportData("example.com", failures=old), {}, wide.for_domain("example.com"), NOW
    )
    assert found.subject == "validation-failure"


def test_new_failing_mx() -> None:
    data = ReportData(
        "example.com", failures=FAILURES, mx_hosts_before=frozenset({"mx1.example.com"})
    )
    (found,) = new_failing_mx_hosts(data, {}, RULES, NOW)
    assert (found.rule, found.subject) == ("report-new-failing-mx", "mx2.example.com")
    assert found.evidence["result_types"] == ["certificate-expired"]
    assert found.evidence["failed_sessions"] == 10
    no_host = ReportData(
        "example.com", failures=[FailureCount(day(0), "sts-policy-fetch-error", None, 3)]
    )
    assert new_failing_mx_hosts(no_host, {}, RULES, NOW) == []
    seen = ReportData(
        "example.com",
        failures=FAILURES,
        mx_hosts_before=frozenset({"mx1.example.com", "mx2.example.com"}),
    )
    assert new_failing_mx_hosts(seen, {}, RULES, NOW) == []
    assert len(new_failing_mx_hosts(seen, _active(found), RULES, NOW)) == 1


# --- reporter-silent --------------------------------------------------------------------


def _every_day(last: int, days: int = 14) -> list[date]:
    return [day(last + n) for n in range(days)]


def test_daily_reporter_silent_for_more_than_48_hours() -> None:
    # Google's last report covers 3 days ago, ending 2 days ago at 00:00: 57 h before NOW.
    data = ReportData(
        "example.com", organizations={"Google LLC": _every_day(3), "Microsoft": _every_day(1)}
    )
    (found,) = silent_reporters(data, {}, RULES, NOW)
    assert (found.rule, found.subject) == ("reporter-silent", "Google LLC")
    assert found.evidence["days_reported"] == 14
    assert found.evidence["silent_since"] == f"{day(2)}T00:00:00Z"


def test_silence_of_48_hours_or_less_is_nothing() -> None:
    # Last report covers 2 days ago, ends yesterday 00:00: 33 h before NOW.
    data = ReportData("example.com", organizations={"Google LLC": _every_day(2)})
    assert silent_reporters(data, {}, RULES, NOW) == []


def test_an_irregular_reporter_going_quiet_is_nothing() -> None:
    data = ReportData("example.com", organizations={"Small ISP": [day(5), day(9), day(12)]})
    assert silent_reporters(data, {}, RULES, NOW) == []
    lenient = parse_alert_settings({"rules": {"reporter-silent": {"min_days": 3}}})
    assert len(silent_reporters(data, {}, lenient.for_domain("example.com"), NOW)) == 1


def test_silent_reporter_holds_until_it_reports_again_even_beyond_the_days_read() -> None:
    data = ReportData("example.com", organizations={"Google LLC": _every_day(3)})
    (found,) = silent_reporters(data, {}, RULES, NOW)
    gone = ReportData("example.com", organizations={})
    (held,) = silent_reporters(gone, _active(found), RULES, NOW + timedelta(days=40))
    assert held.subject == "Google LLC"
    back = ReportData("example.com", organizations={"Google LLC": _every_day(0)})
    assert silent_reporters(back, _active(found), RULES, NOW) == []


def test_silence_threshold_is_configurable() -> None:
    data = ReportData("example.com", organizations={"Google LLC": _every_day(2)})
    short = parse_alert_settings({"rules": {"reporter-silent": {"silence": "24h"}}})
    assert len(silent_reporters(data, {}, short.for_domain("example.com"), NOW)) == 1


# --- reports-missing ------------------------------------------------------------------


def test_reports_missing_after_n_days() -> None:
    data = ReportData("example.com", last_report_day=day(4), expects_reports=True)
    found = reports_missing(data, RULES, NOW)
    assert found is not None
    assert (found.rule, found.subject) == ("reports-missing", "")
    assert found.evidence["last_report_day"] == str(day(4))
    assert (
        reports_missing(
            ReportData("example.com", last_report_day=day(3), expects_reports=True), RULES, NOW
        )
        is None
    )
    strict = parse_alert_settings({"rules": {"reports-missing": {"days": 1}}})
    recent = ReportData("example.com", last_report_day=day(2), expects_reports=True)
    assert reports_missing(recent, strict.for_domain("example.com"), NOW) is not None


def test_reports_missing_needs_a_record_or_earlier_reports() -> None:
    assert reports_missing(ReportData("example.com", last_report_day=day(9)), RULES, NOW) is None
    registered = NOW - timedelta(days=5)
    never = ReportData("example.com", expects_reports=True, registered_at=registered)
    found = reports_missing(never, RULES, NOW)
    assert found is not None and "registered" in found.summary
    fresh = ReportData("example.com", expects_reports=True, registered_at=NOW - timedelta(days=1))
    assert reports_missing(fresh, RULES, NOW) is None
    assert reports_missing(ReportData("example.com", expects_reports=True), RULES, NOW) is None


# --- quarantine-growing ------------------------------------------------------------------


def test_quarantine_growing() -> None:
    rules = parse_alert_settings(None).for_domain("")
    found = quarantine_condition({"held": 8, "json-invalid": 2}, rules, NOW)
    assert found is not None
    assert (found.rule, found.subject) == ("quarantine-growing", "")
    assert found.evidence["by_reason"] == {"held": 8, "json-invalid": 2}
    assert "10 inputs quarantined in the last 1d (8 held, 2 json-invalid)" in found.summary
    assert quarantine_condition({"held": 9}, rules, NOW) is None
    higher = parse_alert_settings({"rules": {"quarantine-growing": {"threshold": 50}}})
    assert quarantine_condition({"held": 49}, higher.for_domain(""), NOW) is None
    off = parse_alert_settings({"rules": {"quarantine-growing": {"enabled": False}}})
    assert quarantine_condition({"held": 99}, off.for_domain(""), NOW) is None


# --- together ------------------------------------------------------------------------------


def test_report_conditions_respects_enable_flags() -> None:
    data = ReportData(
        "example.com",
        daily=_daily((900, 100)),
        failures=FAILURES,
        organizations={"Google LLC": _every_day(3)},
        last_report_day=day(0),
        expects_reports=True,
    )
    every = {c.rule for c in report_conditions(data, {}, RULES, NOW)}
    assert every == {
        "report-failure-rate",
        "report-new-result-type",
        "report-new-failing-mx",
        "reporter-silent",
    }
    raw: dict[str, Any] = {
        "domains": {"example.com": {"rules": {"report-new-result-type": {"enabled": False}}}}
    }
    some = report_conditions(data, {}, parse_alert_settings(raw).for_domain("example.com"), NOW)
    assert "report-new-result-type" not in {c.rule for c in some}
    off = parse_alert_settings({"domains": {"example.com": {"enabled": False}}})
    assert report_conditions(data, {}, off.for_domain("example.com"), NOW) == []


def test_read_plan_covers_every_window() -> None:
    plan = read_plan(RULES, NOW)
    assert plan.failures_since == day(1)
    assert plan.result_types_before == plan.mx_hosts_before == day(1)
    assert plan.daily_since == day(1) - timedelta(days=14)  # the baseline
    assert plan.organizations_since is not None
    assert plan.organizations_since <= day(14 + 2)  # 14 regular days before a 48 h silence
    assert read_plan(RULES, NOW, absence=False).organizations_since is None


def test_only_the_rules_evaluated() -> None:
    data = ReportData(
        "example.com",
        daily=_daily((900, 100)),
        organizations={"Google LLC": _every_day(3)},
        expects_reports=True,
        last_report_day=day(9),
    )
    found = report_conditions(
        data, {}, RULES, NOW, evaluated=("reporter-silent", "reports-missing")
    )
    assert {c.rule for c in found} == {"reporter-silent", "reports-missing"}
    found = report_conditions(data, {}, RULES, NOW, evaluated=("report-failure-rate",))
    assert {c.rule for c in found} == {"report-failure-rate"}
