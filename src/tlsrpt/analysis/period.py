"""Per policy domain, per period analysis over stored rows. Pure.

Input rows mirror two store tables (`tlsrpt.store.schema`):
- `RollupRow` is one `daily_rollups` row, fields in table column order, so
  `RollupRow(*row)` works on `select(daily_rollups)`;
- `FailureRow` is one `failure_details` row reduced to what the breakdowns use.

Counting rules, all in failed *sessions*:
- totals, the daily trend and the per-organization breakdown come from the
  roll-up rows that cover all policy types (RFC 8460 §4.2 summary counts);
- failures by result type sum failed-session-count per §4.3 type (roll-up
  rows with a result type); they need not add up to the failed total, as one
  session may fail in several ways (RFC 8460 §4; docs/conformance.md#failure-counts);
- failures by receiving MX and by sending IP come from failure details; a
  detail that names no MX or IP (e.g. sts-policy-fetch-error, Microsoft, Mail.ru;
  docs/conformance.md#sender-quirks, #optional-failure-members) is counted under the key None, so
  every breakdown still sums to the failed sessions of its source rows.

A failure rate is failed / (successful + failed) and is None when no session
was reported, as in `DomainSummary.failure_rate`: "no traffic" is not "0 %".
Days are UTC days (the store attributes each report to its UTC start day).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple, TypeVar

# The roll-up key value meaning "all policy types" / "all result types"
# (`tlsrpt.store.schema.ALL`); kept here so this module imports no store code.
ALL = ""

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class RollupRow:
    domain: str
    day: date
    organization: str
    policy_type: str  # ALL ("") = all policy types
    result_type: str  # ALL ("") = all result types
    reports: int
    successful_sessions: int
    failed_sessions: int


@dataclass(frozen=True, slots=True)
class FailureRow:
    domain: str
    day: date
    result_type: str
    failed_sessions: int
    sending_ip: str | None
    receiving_mx: str | None


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive range of UTC days."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def ending(cls, end: date, days: int) -> Period:
        """The `days` days up to and including `end`."""
        if days < 1:
            raise ValueError(f"a period has at least one day, not {days}")
        return cls(end - timedelta(days=days - 1), end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period.ending(self.start - timedelta(days=1), self.days)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]


def rate(failed: int, successful: int) -> float | None:
    """failed / all sessions; None when there were no sessions."""
    total = failed + successful
    return failed / total if total else None


@dataclass(frozen=True, slots=True)
class DailyPoint:
    """One UTC day. A day no report covered is a gap: its counts are None,
    unlike a reported day with zero sessions (counts 0)."""

    day: date
    reports: int
    successful_sessions: int | None
    failed_sessions: int | None

    @property
    def has_data(self) -> bool:
        return self.reports > 0

    @property
    def failure_rate(self) -> float | None:
        if self.successful_sessions is None or self.failed_sessions is None:
            return None
        return rate(self.failed_sessions, self.successful_sessions)


@dataclass(frozen=True, slots=True)
class Reporter:
    """One reporting organization's contribution to a domain in a period."""

    organization: str
    reports: int
    successful_sessions: int
    failed_sessions: int
    first_day: date
    last_day: date


@dataclass(frozen=True, slots=True)
class DomainPeriod:
    """Everything about one policy domain in one period. Breakdowns are
    (key, failed sessions) pairs, largest first, zero counts left out."""

    domain: str
    period: Period
    reports: int
    successful_sessions: int
    failed_sessions: int
    daily: list[DailyPoint]
    reporters: list[Reporter] = field(default_factory=list)
    failures_by_result_type: list[tuple[str, int]] = field(default_factory=list)
    failures_by_organization: list[tuple[str, int]] = field(default_factory=list)
    failures_by_mx: list[tuple[str | None, int]] = field(default_factory=list)
    failures_by_sending_ip: list[tuple[str | None, int]] = field(default_factory=list)

    @property
    def sessions(self) -> int:
        return self.successful_sessions + self.failed_sessions

    @property
    def failure_rate(self) -> float | None:
        return rate(self.failed_sessions, self.successful_sessions)

    @property
    def days_with_data(self) -> int:
        return sum(1 for point in self.daily if point.has_data)


def ranked(counts: Mapping[K, int]) -> list[tuple[K, int]]:
    """Largest count first, ties by key (None last), zero counts left out."""
    return sorted(
        ((k, n) for k, n in counts.items() if n),
        key=lambda kv: (-kv[1], kv[0] is None, "" if kv[0] is None else str(kv[0])),
    )


def _add(counts: dict[K, int], key: K, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


class _Builder:
    def __init__(self, domain: str, period: Period) -> None:
        self.domain, self.period = domain, period
        self.days: dict[date, list[int]] = {}  # reports, successful, failed
        self.orgs: dict[str, Reporter] = {}
        self.by_result: dict[str, int] = {}
        self.by_mx: dict[str | None, int] = {}
        self.by_ip: dict[str | None, int] = {}

    def rollup(self, row: RollupRow) -> None:
        if row.result_type != ALL:
            _add(self.by_result, row.result_type, int(row.failed_sessions))
        elif row.policy_type == ALL:
            ok, failed = int(row.successful_sessions), int(row.failed_sessions)
            day = self.days.setdefault(row.day, [0, 0, 0])
            day[0] += int(row.reports)
            day[1] += ok
            day[2] += failed
            org = self.orgs.get(row.organization)
            self.orgs[row.organization] = Reporter(
                row.organization,
                int(row.reports) + (org.reports if org else 0),
                ok + (org.successful_sessions if org else 0),
                failed + (org.failed_sessions if org else 0),
                min(org.first_day, row.day) if org else row.day,
                max(org.last_day, row.day) if org else row.day,
            )

    def failure(self, row: FailureRow) -> None:
        _add(self.by_mx, row.receiving_mx, int(row.failed_sessions))
        _add(self.by_ip, row.sending_ip, int(row.failed_sessions))

    def build(self) -> DomainPeriod:
        daily = []
        for day in self.period.each_day():
            counts = self.days.get(day)
            if counts is None or counts[0] == 0:
                daily.append(DailyPoint(day, 0, None, None))
            else:
                daily.append(DailyPoint(day, counts[0], counts[1], counts[2]))
        reporters = sorted(
            self.orgs.values(),
            key=lambda r: (-r.reports, r.organization),
        )
        return DomainPeriod(
            domain=self.domain,
            period=self.period,
            reports=sum(c[0] for c in self.days.values()),
            successful_sessions=sum(c[1] for c in self.days.values()),
            failed_sessions=sum(c[2] for c in self.days.values()),
            daily=daily,
            reporters=reporters,
            failures_by_result_type=ranked(self.by_result),
            failures_by_organization=ranked({r.organization: r.failed_sessions for r in reporters}),
            failures_by_mx=ranked(self.by_mx),
            failures_by_sending_ip=ranked(self.by_ip),
        )


def analyze(
    period: Period,
    rollups: Iterable[RollupRow],
    failures: Iterable[FailureRow] = (),
    *,
    domains: Iterable[str] = (),
) -> dict[str, DomainPeriod]:
    """One `DomainPeriod` per policy domain seen in the rows (plus every name
    in `domains`, so a domain without data still gets an all-gap result).
    Rows outside the period are ignored, so a wider fetch can be reused."""
    builders = {d: _Builder(d, period) for d in domains}

    def builder(domain: str) -> _Builder:
        found = builders.get(domain)
        if found is None:
            found = builders[domain] = _Builder(domain, period)
        return found

    for row in rollups:
        if row.day in period:
            builder(row.domain).rollup(row)
    for failure in failures:
        if failure.day in period:
            builder(failure.domain).failure(failure)
    return {d: builders[d].build() for d in sorted(builders)}


class DayTotal(NamedTuple):
    """All-types roll-up rows of one domain and day, summed over organizations
    (a named tuple: built straight from a result row, many at a time)."""

    domain: str
    day: date
    reports: int
    successful_sessions: int
    failed_sessions: int


class ReporterTotal(NamedTuple):
    """All-types roll-up rows of one domain and organization over the period."""

    domain: str
    reporter: Reporter


class ResultTotal(NamedTuple):
    """Result-type roll-up rows of one domain and type over the period."""

    domain: str
    result_type: str
    failed_sessions: int


def analyze_totals(
    period: Period,
    days: Iterable[DayTotal],
    reporters: Iterable[ReporterTotal],
    results: Iterable[ResultTotal],
    *,
    domains: Iterable[str] = (),
) -> dict[str, DomainPeriod]:
    """`analyze` (without failure details: no MX or IP breakdowns) from roll-up
    rows the database already summed per day, per organization and per result
    type, all within `period`: the same result from far fewer rows, for many
    domains at once. Rows outside the period must be left out by the caller."""
    builders = {d: _Builder(d, period) for d in domains}

    def builder(domain: str) -> _Builder:
        found = builders.get(domain)
        if found is None:
            found = builders[domain] = _Builder(domain, period)
        return found

    for domain, day, reports, successful, failed in days:
        counts = builder(domain).days.setdefault(day, [0, 0, 0])
        counts[0] += int(reports)
        counts[1] += int(successful)
        counts[2] += int(failed)
    for total in reporters:
        builder(total.domain).orgs[total.reporter.organization] = total.reporter
    for result in results:
        _add(builder(result.domain).by_result, result.result_type, int(result.failed_sessions))
    return {d: builders[d].build() for d in sorted(builders)}


def analyze_domain(
    domain: str,
    period: Period,
    rollups: Iterable[RollupRow],
    failures: Iterable[FailureRow] = (),
) -> DomainPeriod:
    """`analyze` for one domain; rows of other domains are ignored."""
    return analyze(
        period,
        (r for r in rollups if r.domain == domain),
        (f for f in failures if f.domain == domain),
        domains=[domain],
    )[domain]


def new_failure_types(current: DomainPeriod, previous: DomainPeriod) -> list[str]:
    """Result types with failed sessions now and none in the previous period,
    largest first. With no data at all in the previous period every current
    type is new (nothing was seen before)."""
    before = {t for t, _ in previous.failures_by_result_type}
    return [t for t, _ in current.failures_by_result_type if t not in before]


@dataclass(frozen=True, slots=True)
class StoppedReporter:
    organization: str
    last_day: date  # last UTC day it reported on in the previous period
    previous_reports: int


def stopped_reporters(current: DomainPeriod, previous: DomainPeriod) -> list[StoppedReporter]:
    """Organizations that reported in the previous period but not in this one,
    most recently seen first."""
    now = {r.organization for r in current.reporters}
    gone = [
        StoppedReporter(r.organization, r.last_day, r.reports)
        for r in previous.reporters
        if r.organization not in now
    ]
    return sorted(gone, key=lambda s: (-s.last_day.toordinal(), s.organization))
