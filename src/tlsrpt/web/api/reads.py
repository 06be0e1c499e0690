"""What the API and the dashboard read: store rows for visible domains over
a period, turned into `tlsrpt.analysis` results. Thin: SQL here, the
arithmetic in `tlsrpt.analysis`.

Every function takes the user the answer is for; a domain or report the
user may not see is reported as absent (None), exactly like one that does
not exist, so another customer's domain names do not leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import (
    DayTotal,
    DomainPeriod,
    FailureRow,
    Period,
    Reporter,
    ReporterTotal,
    ResultTotal,
    StoppedReporter,
    analyze,
    analyze_totals,
    new_failure_types,
    stopped_reporters,
)
from tlsrpt.analysis.readiness import Readiness
from tlsrpt.store import blobs
from tlsrpt.store.domain_reads import failure_rows, rollup_rows
from tlsrpt.store.provenance import raw_coverage
from tlsrpt.store.queries import SumOf, get_raw, get_report, summed
from tlsrpt.store.readiness_reads import readiness
from tlsrpt.store.schema import ALL, EMPTY, daily_rollups, failure_details, policy_results, reports
from tlsrpt.store.users import User, can_see, visible_domains
from tlsrpt.web.api.report_view import ReportView, narrow, whole

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


def _totals(
    conn: Connection, names: Sequence[str], period: Period
) -> tuple[list[DayTotal], list[ReporterTotal], list[ResultTotal]]:
    """The roll-ups of `names` in the period, summed by the database per day,
    per organization and per result type. Every query is one primary-key (or
    covering index) range per domain: domain, level, then days."""
    r = daily_rollups
    top = [
        r.c.domain.in_(names),
        r.c.policy_type == ALL,
        r.c.result_type == ALL,
        r.c.day >= period.start,
        r.c.day <= period.end,
    ]

    def sums(total: SumOf) -> tuple[Any, ...]:
        return (
            sa.func.sum(r.c.reports),
            *total(r.c.successful_sessions),
            *total(r.c.failed_sessions),
        )

    def days(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(r.c.domain, r.c.day, *sums(total)).where(*top).group_by(r.c.domain, r.c.day)
        )

    def orgs(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(
                r.c.domain,
                r.c.organization,
                *sums(total),
                sa.func.min(r.c.day),
                sa.func.max(r.c.day),
            )
            .where(*top)
            .group_by(r.c.domain, r.c.organization)
        )

    # Failed sessions per result type from the result-type roll-ups, which
    # retention keeps (the verdict counts them).
    def types(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(r.c.domain, r.c.result_type, *total(r.c.failed_sessions))
            .where(
                r.c.domain.in_(names),
                r.c.policy_type != ALL,
                r.c.result_type != ALL,
                r.c.day >= period.start,
                r.c.day <= period.end,
            )
            .group_by(r.c.domain, r.c.result_type)
        )

    per_type: dict[tuple[str, str], int] = {}
    for d, t, n in summed(conn, types):
        per_type[d, t or EMPTY] = per_type.get((d, t or EMPTY), 0) + int(n)
    return (
        [DayTotal._make(row) for row in summed(conn, days)],
        [
            ReporterTotal(d, Reporter(org, int(n), int(ok), int(failed), first, last))
            for d, org, n, ok, failed, first, last in summed(conn, orgs)
        ],
        [ResultTotal(d, t, n) for (d, t), n in per_type.items()],
    )


def overview(
    conn: Connection, user: User, period: Period, names: Sequence[str] | None = None
) -> list[DomainOverview]:
    """Domains with their analysis and readiness verdict over the period,
    sorted by name: every domain the user may see, or those of `names`
    (which the caller took from `visible_domains`)."""
    if names is None:
        names = visible_domains(conn, user)
    if not names:
        return []
    days, reporters, results = _totals(conn, names, period)
    analyses = analyze_totals(period, days, reporters, results, domains=names)
    # The same readiness as `domain_detail` gives, as of the period's last
    # day whatever its length.
    verdicts = readiness(conn, names, period.end)
    return [DomainOverview(a, verdicts[a.domain]) for a in analyses.values()]


@dataclass(frozen=True, slots=True)
class DomainDetail:
    analysis: DomainPeriod
    previous: DomainPeriod
    readiness: Readiness
    failures: list[FailureRow]

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
    return DomainDetail(current, before, verdict, failures)


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


def failure_list(conn: Connection, domain: str, period: Period, limit: int) -> list[dict[str, Any]]:
    """The domain's failure details in the period, newest day first."""
    f, r = failure_details, reports
    query = (
        sa.select(
            f.c.day,
            f.c.report_pk.label("report"),
            r.c.organization,
            r.c.report_id,
            f.c.result_type,
            f.c.failed_session_count,
            f.c.sending_mta_ip,
            f.c.receiving_mx_hostname,
            f.c.receiving_mx_helo,
            f.c.receiving_ip,
            f.c.failure_reason_code,
            f.c.additional_information,
        )
        .join(r, r.c.id == f.c.report_pk)
        .where(f.c.domain == domain, f.c.day >= period.start, f.c.day <= period.end)
        .order_by(f.c.day.desc(), f.c.report_pk.desc(), f.c.policy_ordinal, f.c.ordinal)
        .limit(limit)
    )
    return [dict(zip(FAILURE_COLUMNS, row, strict=True)) for row in conn.execute(query)]


REPORT_COLUMNS = (
    "id",
    "day",
    "organization",
    "report_id",
    "start_at",
    "end_at",
    "successful_sessions",
    "failed_sessions",
)


def report_list(
    conn: Connection, user: User, domain: str | None, period: Period, limit: int
) -> list[dict[str, Any]]:
    """Reports covering a visible domain (or `domain`) in the period, newest
    first, each with the visible domains it covers. An admin without
    `domain` gets every report, also those whose domain is unknown. For
    anyone else a report's session totals are those of the policies of
    their domains only (`report_view`)."""
    if domain is not None and not can_see(conn, user, domain):
        return []
    p = policy_results
    in_period = [p.c.day >= period.start, p.c.day <= period.end]
    everything = user.is_admin and domain is None
    names = [] if everything else visible_domains(conn, user) if domain is None else [domain]
    covering = sa.select(p.c.report_pk).where(
        *in_period, *([] if everything else [p.c.domain.in_(names)])
    )
    query = (
        sa.select(*(reports.c[name] for name in REPORT_COLUMNS))
        .where(reports.c.id.in_(covering))
        .order_by(reports.c.id.desc())
        .limit(limit)
    )
    rows = [dict(zip(REPORT_COLUMNS, row, strict=True)) for row in conn.execute(query)]
    if not user.is_admin and domain is not None:
        names = visible_domains(conn, user)  # totals over all of theirs, not only `domain`
    _add_domains(conn, rows, None if user.is_admin else set(names))
    return rows


_ID_CHUNK = 500  # bound parameters per IN list


def _add_domains(conn: Connection, rows: list[dict[str, Any]], names: set[str] | None) -> None:
    """Set each row's `domains`; with `names` (a user who is not an admin),
    only those, and the session totals over the policies of those only."""
    p = policy_results
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row["domains"] = []
        if names is not None:
            row["successful_sessions"] = row["failed_sessions"] = 0
    ids = sorted(by_id)
    for chunk in (ids[i : i + _ID_CHUNK] for i in range(0, len(ids), _ID_CHUNK)):
        query = sa.select(p.c.report_pk, p.c.domain, p.c.successful_sessions, p.c.failed_sessions)
        query = query.where(p.c.report_pk.in_(chunk)).order_by(p.c.report_pk, p.c.ordinal)
        for pk, name, ok, failed in conn.execute(query):
            if names is not None and name not in names:
                continue
            row = by_id[pk]
            if name not in row["domains"]:
                row["domains"].append(name)
            if names is not None:  # a subset of the stored totals: no overflow
                row["successful_sessions"] += int(ok)
                row["failed_sessions"] += int(failed)


def visible_report(conn: Connection, user: User, pk: int) -> ReportView | None:
    """The report as the user may see it (`report_view`), or None when it
    does not exist or none of its policies is of the user's domains."""
    stored = get_report(conn, pk)
    if stored is None or user.is_admin:
        return None if stored is None else whole(stored)
    names = set(visible_domains(conn, user))
    if not any(policy["domain"] in names for policy in stored.policies):
        return None
    raws = [stored.raw["id"], *(d["raw_id"] for d in stored.duplicates)]
    allowed = {
        raw_id
        for raw_id, covered in raw_coverage(conn, raws).items()
        if covered.complete and covered.domains <= names
    }
    return narrow(stored, names, allowed)


def raw_bytes(conn: Connection, raw_id: int) -> bytes:
    row = get_raw(conn, raw_id)
    assert row is not None  # a stored report always has its raw input
    return blobs.unpack(row["codec"], row["data"])
