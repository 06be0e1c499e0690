"""Alert conditions from stored TLS-RPT reports (RFC 8460 §4) and from the
quarantine. Pure: the rows are read by `tlsrpt.store.alert_reads` as
`ReportData`, which `read_plan` says how far back to read.

Days are UTC days (a report counts on the day of the middle of its range).
Reports arrive about a day after the day they cover, so the windows
include today and the days before: `window_days = 2` is yesterday and
today.

"Never before" (a new result type, a newly failing MX) means no failure of
it on a day before the window; once such an alert fires it holds while the
failures continue, so it resolves when they stop, not when they get old.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from tlsrpt.analysis.alert_model import NO_SUBJECT, Condition
from tlsrpt.analysis.alert_rules import RULES
from tlsrpt.analysis.alert_settings import DomainRules
from tlsrpt.analysis.alerts import Active, iso, utc
from tlsrpt.analysis.durations import format_duration
from tlsrpt.analysis.explain import explain

FAILURE_RATE = "report-failure-rate"
NEW_RESULT_TYPE = "report-new-result-type"
NEW_FAILING_MX = "report-new-failing-mx"
REPORTER_SILENT = "reporter-silent"
REPORTS_MISSING = "reports-missing"
QUARANTINE = "quarantine-growing"
# Rules that new reports can make hold, and rules that hold for want of
# reports (only time, not a new report, opens those).
DATA_RULES = (FAILURE_RATE, NEW_RESULT_TYPE, NEW_FAILING_MX)
ABSENCE_RULES = (REPORTER_SILENT, REPORTS_MISSING)
DOMAIN_RULES = DATA_RULES + ABSENCE_RULES
EMPTY_RESULT_TYPE = "(empty)"  # a failure whose result type the sender left empty


@dataclass(frozen=True, slots=True)
class FailureCount:
    day: date
    result_type: str
    mx_host: str | None
    failed_sessions: int


@dataclass(frozen=True, slots=True)
class ReportData:
    """What the report rules read of one domain."""

    domain: str
    # Per UTC day since ReadPlan.daily_since, all policy types: (successful, failed).
    daily: Mapping[date, tuple[int, int]] = field(default_factory=dict)
    # Days each organization reported on, since ReadPlan.organizations_since.
    organizations: Mapping[str, Sequence[date]] = field(default_factory=dict)
    # Failure details since ReadPlan.failures_since.
    failures: Sequence[FailureCount] = ()
    # Result types / MX hosts among `failures` that also failed before the
    # window of their rule.
    result_types_before: frozenset[str] = frozenset()
    mx_hosts_before: frozenset[str] = frozenset()
    last_report_day: date | None = None  # ever
    expects_reports: bool = False  # a TLS-RPT record at the latest check, or reports before
    registered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReadPlan:
    daily_since: date  # daily totals: the failure rate's window and baseline
    failures_since: date
    result_types_before: date  # window start of report-new-result-type
    mx_hosts_before: date  # window start of report-new-failing-mx
    organizations_since: date | None  # the days each organization reported; None: not read


def window_start(today: date, window_days: int) -> date:
    return today - timedelta(days=window_days - 1)


def _lookback_days(rules: DomainRules) -> int:
    silence = rules.param(REPORTER_SILENT, "silence")
    regular_days = int(rules.param(REPORTER_SILENT, "regular_days"))
    return regular_days + math.ceil(silence / timedelta(days=1)) + 1


def read_plan(rules: DomainRules, now: datetime, absence: bool = True) -> ReadPlan:
    """How far back to read for the rules; `absence`: for the absence
    rules too (the days each organization reported)."""
    today = utc(now).date()
    rate_start = window_start(today, rules.param(FAILURE_RATE, "window_days"))
    types_start = window_start(today, rules.param(NEW_RESULT_TYPE, "window_days"))
    mx_start = window_start(today, rules.param(NEW_FAILING_MX, "window_days"))
    return ReadPlan(
        daily_since=rate_start - timedelta(days=rules.param(FAILURE_RATE, "baseline_days")),
        failures_since=min(types_start, mx_start),
        result_types_before=types_start,
        mx_hosts_before=mx_start,
        organizations_since=today - timedelta(days=_lookback_days(rules)) if absence else None,
    )


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f} %" if rate < 0.995 else f"{rate * 100:.0f} %"


def failure_rate(data: ReportData, rules: DomainRules, now: datetime) -> Condition | None:
    today = utc(now).date()
    start = window_start(today, rules.param(FAILURE_RATE, "window_days"))
    base_start = start - timedelta(days=rules.param(FAILURE_RATE, "baseline_days"))
    ok = failed = base_ok = base_failed = 0
    for day, (s, f) in data.daily.items():
        if start <= day <= today:
            ok, failed = ok + s, failed + f
        elif base_start <= day < start:
            base_ok, base_failed = base_ok + s, base_failed + f
    minimum = rules.param(FAILURE_RATE, "min_sessions")
    if ok + failed < minimum or failed == 0:
        return None
    rate = failed / (ok + failed)
    base = base_failed / (base_ok + base_failed) if base_ok + base_failed >= minimum else None
    threshold = rules.param(FAILURE_RATE, "threshold")
    factor = rules.param(FAILURE_RATE, "baseline_factor")
    if rate >= threshold:
        why = f"at or over the threshold of {_percent(threshold)}"
    elif (
        base is not None and rate >= rules.param(FAILURE_RATE, "min_rate") and rate >= factor * base
    ):
        why = f"{factor:g} times or more the {_percent(base)} of the days before"
    else:
        return None
    days = (today - start).days + 1
    return Condition(
        FAILURE_RATE,
        NO_SUBJECT,
        "warning",
        f"{_percent(rate)} of TLS sessions failed over the last {days} days "
        f"({failed:,} of {ok + failed:,}), {why}",
        "senders reported TLS sessions to this domain's MX hosts that failed (RFC 8460 "
        "§4.2); with MTA-STS in enforce mode or DANE those messages were not delivered",
        RULES[FAILURE_RATE].fix,
        {
            "since": start.isoformat(),
            "successful_sessions": ok,
            "failed_sessions": failed,
            "failure_rate": round(rate, 6),
            "baseline_failure_rate": None if base is None else round(base, 6),
            "baseline_since": base_start.isoformat(),
        },
    )


def _new_values(
    data: ReportData,
    rule: str,
    key: str,
    before: frozenset[str],
    active: Active,
    rules: DomainRules,
    now: datetime,
) -> dict[str, tuple[int, date]]:
    """Values (result types or MX hosts) failing in the rule's window that
    are new or already alerted: value -> (failed sessions, first day)."""
    today = utc(now).date()
    start = window_start(today, rules.param(rule, "window_days"))
    found: dict[str, tuple[int, date]] = {}
    for row in data.failures:
        value = getattr(row, key)
        if value is None or not start <= row.day <= today or row.failed_sessions <= 0:
            continue
        if value in before and (rule, value) not in active:
            continue
        count, first = found.get(value, (0, row.day))
        found[value] = (count + row.failed_sessions, min(first, row.day))
    return found


def new_result_types(
    data: ReportData, active: Active, rules: DomainRules, now: datetime
) -> list[Condition]:
    out = []
    found = _new_values(
        data, NEW_RESULT_TYPE, "result_type", data.result_types_before, active, rules, now
    )
    for result_type, (count, first) in sorted(found.items()):
        meaning = explain(result_type)
        out.append(
            Condition(
                NEW_RESULT_TYPE,
                result_type,
                "warning",
                f"new failure type {result_type} ({meaning.title}): {count:,} failed sessions "
                f"since {first}",
                f"{meaning.meaning} This domain had no failure of this type before "
                f"{first} (RFC 8460 §4.3).",
                "; ".join(meaning.fixes),
                {"result_type": result_type, "failed_sessions": count, "first_day": str(first)},
            )
        )
    return out


def new_failing_mx_hosts(
    data: ReportData, active: Active, rules: DomainRules, now: datetime
) -> list[Condition]:
    out = []
    found = _new_values(data, NEW_FAILING_MX, "mx_host", data.mx_hosts_before, active, rules, now)
    for host, (count, first) in sorted(found.items()):
        types = sorted({r.result_type for r in data.failures if r.mx_host == host})
        out.append(
            Condition(
                NEW_FAILING_MX,
                host,
                "warning",
                f"MX {host} fails TLS for senders since {first}: {count:,} failed sessions "
                f"({', '.join(types)})",
                "senders report failed TLS sessions at a receiving MX host that had none "
                f"before {first} (RFC 8460 §4.4 receiving-mx-hostname)",
                f"check the certificate, STARTTLS and MTA-STS policy coverage of {host}",
                {
                    "host": host,
                    "failed_sessions": count,
                    "first_day": str(first),
                    "result_types": types,
                },
            )
        )
    return out


def silent_reporters(
    data: ReportData, active: Active, rules: DomainRules, now: datetime
) -> list[Condition]:
    silence = rules.param(REPORTER_SILENT, "silence")
    regular_days = rules.param(REPORTER_SILENT, "regular_days")
    min_days = rules.param(REPORTER_SILENT, "min_days")
    out = []
    for organization, days in sorted(data.organizations.items()):
        last = max(days)
        since = datetime.combine(last + timedelta(days=1), time(), tzinfo=utc(now).tzinfo)
        if utc(now) - since <= silence:
            continue
        reported = len({d for d in days if last - timedelta(days=regular_days) < d <= last})
        alerted = (REPORTER_SILENT, organization) in active
        if reported < min_days and not alerted:
            continue
        out.append(_silent(organization, since, silence, reported, regular_days))
    for (rule, organization), state in active.items():
        if rule == REPORTER_SILENT and organization not in data.organizations:
            out.append(  # silent for longer than the days read: still silent
                Condition(
                    rule,
                    organization,
                    state.severity,
                    state.summary,
                    state.explanation,
                    state.fix,
                    dict(state.evidence),
                )
            )
    return out


def _silent(
    organization: str, since: datetime, silence: timedelta, reported: int, regular_days: int
) -> Condition:
    return Condition(
        REPORTER_SILENT,
        organization,
        "warning",
        f"{organization} sent no report covering anything after {iso(since)} (more than "
        f"{format_duration(silence)}); it reported on {reported} of the {regular_days} days "
        "before",
        "an organization that sent TLS-RPT reports for this domain every day stopped: its "
        "reports no longer reach tlsrpt (a changed rua, a mailbox or DKIM problem) or it "
        "no longer sends mail to the domain (RFC 8460 §3)",
        RULES[REPORTER_SILENT].fix,
        {"organization": organization, "silent_since": iso(since), "days_reported": reported},
    )


def reports_missing(data: ReportData, rules: DomainRules, now: datetime) -> Condition | None:
    if not data.expects_reports:
        return None
    days = rules.param(REPORTS_MISSING, "days")
    today = utc(now).date()
    if data.last_report_day is not None:
        if (today - data.last_report_day).days <= days:
            return None
        since = f"since {data.last_report_day}"
    elif data.registered_at is not None and utc(now) - utc(data.registered_at) > timedelta(
        days=days
    ):
        since = f"since the domain was registered on {utc(data.registered_at):%Y-%m-%d}"
    else:
        return None
    return Condition(
        REPORTS_MISSING,
        NO_SUBJECT,
        "warning",
        f"no TLS-RPT report for {data.domain} {since} (more than {days} days)",
        "the domain publishes a TLS-RPT record or received reports before, but no report "
        "arrived for days: reports go elsewhere or are lost (RFC 8460 §3)",
        RULES[REPORTS_MISSING].fix,
        {"last_report_day": None if data.last_report_day is None else str(data.last_report_day)},
    )


def report_conditions(
    data: ReportData,
    active: Active,
    rules: DomainRules,
    now: datetime,
    evaluated: Collection[str] = DOMAIN_RULES,
) -> list[Condition]:
    """The report rules `evaluated` that are enabled for the domain."""
    out: list[Condition] = []

    def wanted(rule: str) -> bool:
        return rule in evaluated and rules.enabled(rule)

    if wanted(FAILURE_RATE):
        found = failure_rate(data, rules, now)
        out += [found] if found is not None else []
    if wanted(NEW_RESULT_TYPE):
        out += new_result_types(data, active, rules, now)
    if wanted(NEW_FAILING_MX):
        out += new_failing_mx_hosts(data, active, rules, now)
    if wanted(REPORTER_SILENT):
        out += silent_reporters(data, active, rules, now)
    if wanted(REPORTS_MISSING):
        found = reports_missing(data, rules, now)
        out += [found] if found is not None else []
    return out


def quarantine_condition(
    by_reason: Mapping[str, int], rules: DomainRules, now: datetime
) -> Condition | None:
    """`by_reason`: inputs quarantined within the rule's window, per reason
    code (`held`: a mailed report without a valid DKIM signature)."""
    if not rules.enabled(QUARANTINE):
        return None
    total = sum(by_reason.values())
    threshold = rules.param(QUARANTINE, "threshold")
    if total < threshold:
        return None
    window = rules.param(QUARANTINE, "window")
    reasons = ", ".join(f"{n:,} {code}" for code, n in sorted(by_reason.items()))
    return Condition(
        QUARANTINE,
        NO_SUBJECT,
        "warning",
        f"{total:,} inputs quarantined in the last {format_duration(window)} ({reasons})",
        "inputs that hold no report tlsrpt can store are kept in quarantine: mailed reports "
        "without a valid DKIM signature (`held`, RFC 8460 §3) and inputs that are not "
        "reports; many of them mean a sender or a mailbox path is broken, or an attack",
        RULES[QUARANTINE].fix,
        {"by_reason": dict(by_reason), "since": iso(utc(now) - window), "threshold": threshold},
    )
