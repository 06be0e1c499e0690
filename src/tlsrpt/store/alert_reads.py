"""What the report alert rules read (`tlsrpt.analysis.alert_reports`).

Cheap by construction: the domains touched since the last evaluation come
from a range of the policy rows' primary key (reports stored after a
report id); per domain only the few days the rules look at are read, as
index ranges — the all-types roll-up rows (domain, '', '', day) and the
failure details' (domain, day, ...) covering index — many domains per
statement, session counts summed exactly (`tlsrpt.store.sums.summed`).
"Failed before the window" is an EXISTS per candidate value that stops at
the first older failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_reports import EMPTY_RESULT_TYPE, FailureCount, ReadPlan, ReportData
from tlsrpt.store.accounts import domains as registered_domains
from tlsrpt.store.schema import (
    ALL,
    QUARANTINED,
    daily_rollups,
    failure_details,
    policy_results,
    raw_inputs,
    reports,
)
from tlsrpt.store.sums import SumOf, summed
from tlsrpt.store.users import reported_domains

_CHUNK = 400  # domains per statement (PostgreSQL and SQLite both take far more binds)


def any_of(conn: Connection, column: sa.ColumnElement[Any], values: Sequence[str]) -> Any:
    """`column IN (values)`; on PostgreSQL as `= ANY(array)`, one parameter
    (psycopg parses a statement with hundreds of parameters slowly)."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.Text)))
    return column.in_(values)


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def last_report_pk(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(reports.c.id))).scalar() or 0)


def last_raw_id(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(raw_inputs.c.id))).scalar() or 0)


def touched_domains(conn: Connection, after_pk: int, upto_pk: int) -> list[str]:
    """Policy domains of the reports stored after `after_pk` (up to and
    including `upto_pk`): a range of the policy rows' primary key."""
    p = policy_results
    query = (
        sa.select(p.c.domain)
        .where(p.c.report_pk > after_pk, p.c.report_pk <= upto_pk, p.c.domain != "")
        .distinct()
    )
    return sorted(conn.scalars(query))


def quarantined_after(conn: Connection, after_raw_id: int) -> bool:
    """Whether any input after `after_raw_id` is in quarantine."""
    query = sa.select(raw_inputs.c.id).where(
        raw_inputs.c.id > after_raw_id, raw_inputs.c.outcome == QUARANTINED
    )
    return conn.execute(query.limit(1)).first() is not None


def quarantine_counts(conn: Connection, since: datetime) -> dict[str, int]:
    """Inputs in quarantine received since `since`, per reason code."""
    stamp = since.astimezone(UTC).replace(tzinfo=None) if since.tzinfo else since
    query = (
        sa.select(raw_inputs.c.reason_code, sa.func.count())
        .where(raw_inputs.c.outcome == QUARANTINED, raw_inputs.c.received_at >= stamp)
        .group_by(raw_inputs.c.reason_code)
    )
    return {code or "unknown": int(n) for code, n in conn.execute(query)}


def all_domains(conn: Connection) -> list[str]:
    """Every domain with reports or registered."""
    names = set(reported_domains(conn)) | set(conn.scalars(sa.select(registered_domains.c.domain)))
    names.discard("")
    return sorted(names)


def _daily(
    conn: Connection, chunk: Sequence[str], since: date
) -> Iterable[tuple[str, date, int, int]]:
    """Per domain and day, the sessions of all policy types (summed over
    the organizations by the database)."""
    r = daily_rollups

    def query(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(
                r.c.domain,
                r.c.day,
                *total(r.c.successful_sessions),
                *total(r.c.failed_sessions),
            )
            .where(
                any_of(conn, r.c.domain, chunk),
                r.c.policy_type == ALL,
                r.c.result_type == ALL,
                r.c.day >= since,
            )
            .group_by(r.c.domain, r.c.day)
        )

    for domain, day, ok, failed in summed(conn, query):
        yield domain, day, int(ok), int(failed)


def _organizations(
    conn: Connection, chunk: Sequence[str], since: date
) -> list[tuple[str, str, date]]:
    r = daily_rollups
    query = sa.select(r.c.domain, r.c.organization, r.c.day).where(
        any_of(conn, r.c.domain, chunk),
        r.c.policy_type == ALL,
        r.c.result_type == ALL,
        r.c.day >= since,
    )
    return [(domain, organization, day) for domain, organization, day in conn.execute(query)]


def _failures(
    conn: Connection, chunk: Sequence[str], since: date
) -> Iterable[tuple[str, date, str, str | None, int]]:
    f = failure_details
    keys = (f.c.domain, f.c.day, f.c.result_type, f.c.receiving_mx_hostname)

    def query(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(*keys, *total(f.c.failed_session_count))
            .where(any_of(conn, f.c.domain, chunk), f.c.day >= since)
            .group_by(*keys)
        )

    for domain, day, result_type, mx, failed in summed(conn, query):
        yield domain, day, result_type, mx, int(failed or 0)


def _failed_before(
    conn: Connection, column: str, candidates: Sequence[tuple[str, str, date]]
) -> set[tuple[str, str]]:
    """The (domain, value) candidates with a failure detail of that value
    (result type or MX host) on a day before the candidate's cutoff: an
    EXISTS each, stopping at the first older failure. Sent as driver SQL
    (no compiling): on PostgreSQL three arrays, on SQLite a VALUES list."""
    exists = (
        "SELECT c.domain, c.value FROM c WHERE EXISTS (SELECT 1 FROM failure_details f "
        f"WHERE f.domain = c.domain AND f.{column} = c.value AND f.day < c.cutoff)"
    )
    found: set[tuple[str, str]] = set()
    for chunk in _chunks(list(candidates), 300):
        if conn.dialect.name == "postgresql":
            statement = (
                "WITH c(domain, value, cutoff) AS (SELECT * FROM "
                "unnest(%s::text[], %s::text[], %s::date[])) " + exists
            )
            params: tuple[Any, ...] = tuple(list(column) for column in zip(*chunk, strict=True))
        else:
            rows = ", ".join(["(?, ?, ?)"] * len(chunk))
            statement = f"WITH c(domain, value, cutoff) AS (VALUES {rows}) " + exists
            params = tuple(x for d, v, cutoff in chunk for x in (d, v, cutoff.isoformat()))
        found.update((d, v) for d, v in conn.exec_driver_sql(statement, params))
    return found


def _last_days(conn: Connection, domains: Sequence[str]) -> dict[str, date]:
    """The last day with reports of each domain (one index seek each)."""
    r = daily_rollups
    query = sa.select(sa.func.max(r.c.day)).where(
        r.c.domain == sa.bindparam("domain"), r.c.policy_type == ALL, r.c.result_type == ALL
    )
    out = {}
    for domain in domains:
        day = conn.execute(query, {"domain": domain}).scalar()
        if day is not None:
            out[domain] = day
    return out


def _registered(conn: Connection, domains: Sequence[str]) -> dict[str, datetime]:
    out = {}
    for chunk in _chunks(list(domains)):
        query = sa.select(registered_domains.c.domain, registered_domains.c.created_at).where(
            any_of(conn, registered_domains.c.domain, chunk)
        )
        out.update({d: created.replace(tzinfo=UTC) for d, created in conn.execute(query)})
    return out


def _before_sets(
    conn: Connection,
    plans: Mapping[str, ReadPlan],
    failures: Mapping[str, list[tuple[date, str, str | None, int]]],
) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per domain, the result types and MX hosts failing in their windows
    that also failed before."""
    types, hosts = set(), set()
    for d, rows in failures.items():
        plan = plans[d]
        for day, result_type, mx, _ in rows:
            if day >= plan.result_types_before:
                types.add((d, result_type, plan.result_types_before))
            if mx is not None and day >= plan.mx_hosts_before:
                hosts.add((d, mx, plan.mx_hosts_before))
    types_before = _failed_before(conn, "result_type", sorted(types))
    hosts_before = _failed_before(conn, "receiving_mx_hostname", sorted(hosts))
    out: dict[str, tuple[set[str], set[str]]] = {}
    for d, result_type in types_before:
        out.setdefault(d, (set(), set()))[0].add(result_type or EMPTY_RESULT_TYPE)
    for d, mx in hosts_before:
        out.setdefault(d, (set(), set()))[1].add(mx)
    return {d: (frozenset(t), frozenset(h)) for d, (t, h) in out.items()}


def report_data(
    conn: Connection,
    plans: Mapping[str, ReadPlan],
    has_tlsrpt_record: Mapping[str, bool] | None = None,
) -> dict[str, ReportData]:
    """What the report rules need of each domain in `plans`.
    `has_tlsrpt_record`: per domain, whether its latest check found a
    TLS-RPT record (absent: not checked)."""
    domains = sorted(plans)
    daily: dict[str, dict[date, tuple[int, int]]] = {d: {} for d in domains}
    orgs: dict[str, dict[str, list[date]]] = {d: {} for d in domains}
    failures: dict[str, list[tuple[date, str, str | None, int]]] = {d: [] for d in domains}
    absent = [d for d in domains if plans[d].organizations_since is not None]
    for chunk in _chunks(domains):
        since = min(plans[d].daily_since for d in chunk)
        for domain, day, ok, failed in _daily(conn, chunk, since):
            daily[domain][day] = (ok, failed)
        for domain, day, result_type, mx, failed in _failures(
            conn, chunk, min(plans[d].failures_since for d in chunk)
        ):
            failures[domain].append((day, result_type, mx, failed))
    for chunk in _chunks(absent):
        since = min(plans[d].organizations_since or date.max for d in chunk)
        for domain, organization, day in _organizations(conn, chunk, since):
            orgs[domain].setdefault(organization, []).append(day)
    before = _before_sets(conn, plans, failures)
    last = {d: max(max(days) for days in orgs[d].values()) for d in absent if orgs[d]}
    last.update(_last_days(conn, [d for d in absent if not orgs[d]]))
    registered = _registered(conn, absent)
    records = has_tlsrpt_record or {}
    nothing: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
    return {
        d: ReportData(
            domain=d,
            daily=daily[d],
            organizations=orgs[d],
            failures=[
                FailureCount(day, rt or EMPTY_RESULT_TYPE, mx, n) for day, rt, mx, n in failures[d]
            ],
            result_types_before=before.get(d, nothing)[0],
            mx_hosts_before=before.get(d, nothing)[1],
            last_report_day=last.get(d),
            expects_reports=records.get(d, False) or d in last,
            registered_at=registered.get(d),
        )
        for d in domains
    }
