"""The domain reads: per-domain questions over a period, answered from the
daily roll-ups and the failure details' (domain, day) indexes (nothing here
scans a table), turned into `tlsrpt.analysis` results where the caller
wants them. What the API, the dashboard, `tlsrpt export`, `tlsrpt summary`
and `tlsrpt mta-sts promote` read about domains, so every one of them
judges readiness from the same rows. SQL here, the arithmetic in
`tlsrpt.analysis`.

Every function that takes a user answers for that user: a domain the user
may not see is reported as absent (None), exactly like one that does not
exist, so another customer's domain names do not leak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import (
    DayTotal,
    DomainPeriod,
    FailureRow,
    Period,
    RollupRow,
    StoppedReporter,
    analyze,
    analyze_totals,
    new_failure_types,
    stopped_reporters,
)
from tlsrpt.analysis.readiness import Readiness
from tlsrpt.store.attribution_reads import AttributionRow, attribution_rows
from tlsrpt.store.readiness_reads import readiness
from tlsrpt.store.schema import ALL, EMPTY, daily_rollups, domain_days, failure_details
from tlsrpt.store.sums import SumOf, summed
from tlsrpt.store.users import User, can_see, visible_domains
from tlsrpt.store.window import Window

DEFAULT_DAYS = 30
MAX_DAYS = 400


def today() -> date:
    return datetime.now(UTC).date()


def period_of(days: int, end: date | None = None) -> Period:
    return Period.ending(end or today(), days)


@dataclass(frozen=True, slots=True)
class DomainOverview:
    analysis: DomainPeriod
    readiness: Readiness


def day_totals(conn: Connection, names: Sequence[str], period: Period) -> list[DayTotal]:
    """The all-types counts of `names` per day of the period, summed over
    organizations when stored (`domain_days`): one primary-key range per
    domain."""
    d = domain_days.c

    def query(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(
                d.domain,
                d.day,
                sa.func.sum(d.reports),
                *total(d.successful_sessions),
                *total(d.failed_sessions),
            )
            .where(
                d.policy_type == ALL,
                d.domain.in_(names),
                d.day >= period.start,
                d.day <= period.end,
            )
            .group_by(d.domain, d.day)
        )

    return [DayTotal._make(row) for row in summed(conn, query)]


def overview(
    conn: Connection,
    user: User,
    period: Period,
    names: Sequence[str] | None = None,
    known: Mapping[str, Readiness] | None = None,
) -> list[DomainOverview]:
    """Domains with their totals, daily series and readiness verdict over
    the period, sorted by name: every domain the user may see, or those of
    `names` (which the caller took from `visible_domains`). The analyses
    hold no breakdowns (by organization, result type, MX host): the domain
    detail has them. `known`: readiness the caller kept, current as of
    the period's end (judged again only for the other names)."""
    if names is None:
        names = visible_domains(conn, user)
    if not names:
        return []
    analyses = analyze_totals(period, day_totals(conn, names, period), (), (), domains=names)
    # The same readiness as `domain_detail` gives, as of the period's last
    # day whatever its length.
    known = known or {}
    verdicts = readiness(conn, [n for n in names if n not in known], period.end)
    verdicts.update({n: known[n] for n in names if n in known})
    return [DomainOverview(a, verdicts[a.domain]) for a in analyses.values()]


@dataclass(frozen=True, slots=True)
class DomainDetail:
    analysis: DomainPeriod
    previous: DomainPeriod
    readiness: Readiness
    failures: list[FailureRow]
    # How the sessions of the period were attributed to the domain
    # (`tlsrpt.report.attribution`), from the stored policy results.
    attribution: list[AttributionRow] = field(default_factory=list)

    @property
    def new_failure_types(self) -> list[str]:
        return new_failure_types(self.analysis, self.previous)

    @property
    def stopped_reporters(self) -> list[StoppedReporter]:
        return stopped_reporters(self.analysis, self.previous)


def is_visible(conn: Connection, user: User, domain: str) -> bool:
    """The user may see the domain and, for an admin, it exists."""
    return can_see(conn, user, domain)


def domain_detail(conn: Connection, user: User, domain: str, period: Period) -> DomainDetail | None:
    if not is_visible(conn, user, domain):
        return None
    previous = period.previous()
    both = Period(previous.start, period.end)
    rollups = rollup_rows(conn, [domain], both)
    failures = failure_rows(conn, domain, period)
    current = analyze(period, rollups, failures, domains=[domain])[domain]
    before = analyze(previous, rollups, domains=[domain])[domain]
    verdict = readiness(conn, [domain], period.end)[domain]
    attributed = attribution_rows(conn, domain, period)
    return DomainDetail(current, before, verdict, failures, attributed)


FAILURE_COLUMNS = (
    "day",
    "report",
    "organization",
    "report_id",
    "result_type",
    "failed_session_count",
    "sending_mta_ip",
    "receiving_mx_hostname",
    "receiving_mx_helo",
    "receiving_ip",
    "failure_reason_code",
    "additional_information",
)


@dataclass(frozen=True, slots=True)
class SummaryRows:
    """Aggregates per domain, as `tlsrpt.analysis.summary` takes them."""

    totals: list[tuple[Any, ...]]  # domain, reports, organizations, successful, failed
    by_result: list[tuple[Any, ...]]  # domain, result type, failed sessions
    mx_hosts: list[tuple[Any, ...]]  # domain, receiving MX hostname, failed sessions
    sending_ips: list[tuple[Any, ...]]  # domain, sending MTA IP, failed sessions


def summary_rows(conn: Connection, window: Window) -> SummaryRows:
    """Index range scans only: the all-types roll-up rows (reports, sessions,
    organizations), the result-type ones (failed sessions per type: kept by
    retention like the totals), then the covering index of failure details
    per MX host and per sending IP."""
    r, f = daily_rollups, failure_details

    def totals(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(
                r.c.domain,
                sa.func.sum(r.c.reports),
                sa.func.count(sa.distinct(r.c.organization)),
                *total(r.c.successful_sessions),
                *total(r.c.failed_sessions),
            )
            .where(r.c.policy_type == ALL, r.c.result_type == ALL, *window.where(r))
            .group_by(r.c.domain)
        )

    def failed_by(column: sa.Column[Any]) -> list[tuple[Any, ...]]:
        def query(total: SumOf) -> sa.Select[Any]:
            return (
                sa.select(f.c.domain, column, *total(f.c.failed_session_count))
                .where(column.is_not(None), *window.where(f))
                .group_by(f.c.domain, column)
            )

        return [(domain, key, int(n)) for domain, key, n in summed(conn, query)]

    def by_result(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(r.c.domain, r.c.result_type, *total(r.c.failed_sessions))
            .where(r.c.policy_type != ALL, r.c.result_type != ALL, *window.where(r))
            .group_by(r.c.domain, r.c.result_type)
        )

    return SummaryRows(
        totals=[tuple(row) for row in summed(conn, totals)],
        by_result=[(d, key or EMPTY, int(n)) for d, key, n in summed(conn, by_result)],
        mx_hosts=failed_by(f.c.receiving_mx_hostname),
        sending_ips=failed_by(f.c.sending_mta_ip),
    )


def rollup_rows(conn: Connection, names: Sequence[str], period: Period) -> list[RollupRow]:
    r = daily_rollups
    query = sa.select(
        r.c.domain,
        r.c.day,
        r.c.organization,
        r.c.policy_type,
        r.c.result_type,
        r.c.reports,
        r.c.successful_sessions,
        r.c.failed_sessions,
    ).where(
        r.c.domain.in_(names),
        r.c.day >= period.start,
        r.c.day <= period.end,
        # The levels analysis reads: all types, and per result type.
        sa.or_(r.c.policy_type == ALL, r.c.result_type != ALL),
    )
    return [RollupRow(*row) for row in conn.execute(query)]


def failure_rows(conn: Connection, domain: str, period: Period) -> list[FailureRow]:
    f = failure_details
    keys = (f.c.domain, f.c.day, f.c.result_type)

    def query(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(
                *keys,
                *total(f.c.failed_session_count),
                f.c.sending_mta_ip,
                f.c.receiving_mx_hostname,
            )
            .where(f.c.domain == domain, f.c.day >= period.start, f.c.day <= period.end)
            .group_by(*keys, f.c.sending_mta_ip, f.c.receiving_mx_hostname)
        )

    return [FailureRow(d, day, t, int(n), ip, mx) for d, day, t, n, ip, mx in summed(conn, query)]
