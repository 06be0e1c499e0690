"""What the reports say about one domain, as the readiness verdict reads it.
Pure.

Only sessions evaluated under an MTA-STS policy (`policy-type` `sts`,
RFC 8460 §4.4) are evidence for MTA-STS `enforce`; DANE (`tlsa`) and
`no-policy-found` sessions are summed beside them (`SideLine`), never into
them.

- `LastFailure`: the latest UTC day with an sts failure that enforce would
  have turned into lost mail (a result type `explain()` marks
  `lost_under_enforce`, RFC 8461 §5.1), over all stored history.
- `clean_start(...)`: the day the clean stretch began: the day after that
  failure, the day of the last policy or MX change, or the first sts
  report, whichever is latest.
- `StsEvidence`: the sts sessions from the clean start to today, their
  reporters and days.

`from_rollups` builds all of it from `daily_rollups` rows
(`tlsrpt.analysis.period.RollupRow`); `tlsrpt.store.readiness_reads` builds
the same from rows the database summed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from tlsrpt.analysis.explain import EXPLANATIONS, explain
from tlsrpt.analysis.period import ALL, Period, RollupRow

STS = "sts"
TLSA = "tlsa"
NO_POLICY = "no-policy-found"

# Registered result types that enforce does not turn into lost mail (the DANE
# ones); any other type, unregistered ones too, is blocking under an sts policy.
NON_BLOCKING_TYPES = tuple(sorted(t for t, e in EXPLANATIONS.items() if not e.lost_under_enforce))


def is_blocking(result_type: str) -> bool:
    return explain(result_type).lost_under_enforce


@dataclass(frozen=True, slots=True)
class LastFailure:
    """The latest day with a blocking sts failure: its result types and the
    receiving MX hosts the reports named that day (when known)."""

    day: date
    result_types: tuple[str, ...] = ()
    mx_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StsReporter:
    organization: str
    sessions: int
    last_day: date


@dataclass(frozen=True, slots=True)
class StsEvidence:
    """sts sessions over `window` (None: no sts report since the clean start)."""

    window: Period | None
    successful_sessions: int = 0
    failed_sessions: int = 0
    days_with_reports: int = 0
    reporters: tuple[StsReporter, ...] = ()  # most sessions first

    @property
    def sessions(self) -> int:
        return self.successful_sessions + self.failed_sessions

    @property
    def failure_rate(self) -> float | None:
        return self.failed_sessions / self.sessions if self.sessions else None

    @property
    def last_day(self) -> date | None:
        return max((r.last_day for r in self.reporters), default=None)


@dataclass(frozen=True, slots=True)
class SideLine:
    """Sessions of one other policy type over the last `days` days."""

    policy_type: str
    days: int
    successful_sessions: int = 0
    failed_sessions: int = 0
    failures_by_result_type: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    @property
    def sessions(self) -> int:
        return self.successful_sessions + self.failed_sessions


def clean_start(
    first_sts_day: date | None, last_failure: date | None, last_change: date | None
) -> date | None:
    """The first day of the clean stretch; None without any sts report."""
    if first_sts_day is None:
        return None
    candidates = [first_sts_day]
    if last_failure is not None:
        candidates.append(last_failure + timedelta(days=1))
    if last_change is not None:
        candidates.append(last_change)
    return max(candidates)


def evidence_window(start: date | None, today: date, cap_days: int) -> Period | None:
    """The days sts sessions are counted over: from the clean start (at most
    `cap_days` back) to today; None when the stretch has not begun."""
    if start is None or start > today:
        return None
    return Period(max(start, today - timedelta(days=cap_days - 1)), today)


def side_period(today: date, days: int) -> Period:
    return Period.ending(today, days)


def sts_evidence(window: Period | None, rows: Iterable[RollupRow]) -> StsEvidence:
    """From the domain's sts-level rows (policy type `sts`, all result types)."""
    if window is None:
        return StsEvidence(None)
    ok = failed = 0
    days: set[date] = set()
    sessions: dict[str, int] = {}
    last: dict[str, date] = {}
    for row in rows:
        if row.policy_type != STS or row.result_type != ALL or row.day not in window:
            continue
        ok += int(row.successful_sessions)
        failed += int(row.failed_sessions)
        days.add(row.day)
        org = row.organization
        sessions[org] = sessions.get(org, 0) + int(row.successful_sessions + row.failed_sessions)
        last[org] = max(last.get(org, row.day), row.day)
    reporters = ranked_reporters((org, n, last[org]) for org, n in sessions.items())
    return StsEvidence(window, ok, failed, len(days), reporters)


def ranked_reporters(rows: Iterable[tuple[str, int, date]]) -> tuple[StsReporter, ...]:
    reporters = [StsReporter(org, int(n), day) for org, n, day in rows]
    return tuple(sorted(reporters, key=lambda r: (-r.sessions, r.organization)))


def side_line(
    policy_type: str, period: Period, rows: Iterable[tuple[str, str, int, int]]
) -> SideLine:
    """From (policy type, result type, successful, failed) sums over `period`:
    result type ALL gives the totals, others the failures by type."""
    ok = failed = 0
    by_type: dict[str, int] = {}
    for ptype, result_type, successful, failures in rows:
        if ptype != policy_type:
            continue
        if result_type == ALL:
            ok += int(successful)
            failed += int(failures)
        elif failures:
            by_type[result_type] = by_type.get(result_type, 0) + int(failures)
    ranked = tuple(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])))
    return SideLine(policy_type, period.days, ok, failed, ranked)


@dataclass(frozen=True, slots=True)
class ReportEvidence:
    """Everything the reports contribute to one domain's verdict."""

    first_sts_day: date | None
    last_failure: LastFailure | None
    clean_since: date | None
    sts: StsEvidence
    dane: SideLine
    no_policy: SideLine


def later_failure(a: LastFailure | None, b: LastFailure | None) -> LastFailure | None:
    if a is None or b is None:
        return a or b
    if a.day != b.day:
        return a if a.day > b.day else b
    return LastFailure(
        a.day,
        tuple(sorted({*a.result_types, *b.result_types})),
        tuple(sorted({*a.mx_hosts, *b.mx_hosts})),
    )


def last_failure_in(rows: Iterable[RollupRow]) -> LastFailure | None:
    """The latest blocking sts failure among result-type rows."""
    last: date | None = None
    types: set[str] = set()
    for row in rows:
        if row.policy_type != STS or row.result_type == ALL or not row.failed_sessions:
            continue
        if not is_blocking(row.result_type):
            continue
        if last is None or row.day > last:
            last, types = row.day, {row.result_type}
        elif row.day == last:
            types.add(row.result_type)
    return None if last is None else LastFailure(last, tuple(sorted(types)))


def from_rollups(
    rollups: Iterable[RollupRow],
    today: date,
    last_failure: LastFailure | None,
    last_change: date | None,
    *,
    side_days: int,
    cap_days: int,
) -> ReportEvidence:
    """The report evidence of one domain from its roll-up rows (up to today;
    later rows are ignored). `last_failure` is the latest blocking failure of
    all stored history; one found in the rows themselves counts as well."""
    rows = [r for r in rollups if r.day <= today]
    sts_days = [r.day for r in rows if r.policy_type == STS and r.result_type == ALL]
    first = min(sts_days, default=None)
    failure = later_failure(last_failure, last_failure_in(rows))
    start = clean_start(first, failure.day if failure else None, last_change)
    window = evidence_window(start, today, cap_days)
    side = side_period(today, side_days)
    sums = [
        (r.policy_type, r.result_type, r.successful_sessions, r.failed_sessions)
        for r in rows
        if r.day in side
    ]
    return ReportEvidence(
        first,
        failure,
        start,
        sts_evidence(window, rows),
        side_line(TLSA, side, sums),
        side_line(NO_POLICY, side, sums),
    )
