"""What the report alert rules read (`tlsrpt.analysis.alert_reports`).

Cheap by construction: the domains touched since the last evaluation come
from a range of the policy rows' primary key (reports stored after a
report id); per domain only the few days the rules look at are read, as
index ranges — the all-types roll-up rows (domain, '', '', day) and the
failure details' (domain, day, ...) covering index — many domains per
statement. "Failed before the window" is an EXISTS per candidate value
that stops at the first older failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
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
from tlsrpt.store.users import reported_domains

_CHUNK = 400  # domains per statement (PostgreSQL and SQLite both take far more binds)


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


def _rollups(
    conn: Connection, chunk: Sequence[str], since: date
) -> Iterable[tuple[str, date, str, int, int]]:
    r = daily_rollups
    query = sa.select(
        r.c.domain, r.c.day, r.c.organization, r.c.successful_sessions, r.c.failed_sessions
    ).where(r.c.domain.in_(chunk), r.c.policy_type == ALL, r.c.result_type == ALL, r.c.day >= since)
    for domain, day, organization, ok, failed in conn.execute(query):
        yield domain, day, organization, int(ok), int(failed)


def _failures(
    conn: Connection, chunk: Sequence[str], since: date
) -> Iterable[tuple[str, date, str, str | None, int]]:
    f = failure_details
    query = (
        sa.select(
            f.c.domain,
            f.c.day,
            f.c.result_type,
            f.c.receiving_mx_hostname,
            sa.func.sum(f.c.failed_session_count),
        )
        .where(f.c.domain.in_(chunk), f.c.day >= since)
        .group_by(f.c.domain, f.c.day, f.c.result_type, f.c.receiving_mx_hostname)
    )
    for domain, day, result_type, mx, failed in conn.execute(query):
        yield domain, day, result_type, mx, int(failed or 0)


def _failed_before(
    conn: Connection, column: str, candidates: Sequence[tuple[str, str, date]]
) -> set[tuple[str, str]]:
    """The (domain, value) candidates with a failure detail of that value
    (result type or MX host) on a day before the candidate's cutoff."""
    found: set[tuple[str, str]] = set()
    for chunk in _chunks(list(candidates), 200):
        rows, params = [], {}
        for i, (domain, value, cutoff) in enumerate(chunk):
            rows.append(f"(:d{i}, :v{i}, :c{i})")
            params.update({f"d{i}": domain, f"v{i}": value, f"c{i}": cutoff})
        statement = sa.text(
            f"WITH c(domain, value, cutoff) AS (VALUES {', '.join(rows)}) "
            "SELECT c.domain, c.value FROM c WHERE EXISTS (SELECT 1 FROM failure_details f "
            f"WHERE f.domain = c.domain AND f.{column} = c.value AND f.day < c.cutoff)"
        ).bindparams(*(sa.bindparam(f"c{i}", type_=sa.Date) for i in range(len(chunk))))
        found.update((d, v) for d, v in conn.execute(statement, params))
    return found


def _last_days(conn: Connection, domains: Sequence[str]) -> dict[str, date]:
    """The last day with reports of each domain (one index seek each)."""
    r = daily_rollups
    out = {}
    for domain in domains:
        query = sa.select(sa.func.max(r.c.day)).where(
            r.c.domain == domain, r.c.policy_type == ALL, r.c.result_type == ALL
        )
        day = conn.execute(query).scalar()
        if day is not None:
            out[domain] = day
    return out


def _registered(conn: Connection, domains: Sequence[str]) -> dict[str, datetime]:
    out = {}
    for chunk in _chunks(list(domains)):
        query = sa.select(registered_domains.c.domain, registered_domains.c.created_at).where(
            registered_domains.c.domain.in_(chunk)
        )
        out.update({d: created.replace(tzinfo=UTC) for d, created in conn.execute(query)})
    return out


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
    orgs: dict[str, dict[str, set[date]]] = {d: {} for d in domains}
    failures: dict[str, list[tuple[date, str, str | None, int]]] = {d: [] for d in domains}
    for chunk in _chunks(domains):
        for domain, day, organization, ok, failed in _rollups(
            conn, chunk, min(plans[d].rollups_since for d in chunk)
        ):
            s, f = daily[domain].get(day, (0, 0))
            daily[domain][day] = (s + ok, f + failed)
            orgs[domain].setdefault(organization, set()).add(day)
        for domain, day, result_type, mx, failed in _failures(
            conn, chunk, min(plans[d].failures_since for d in chunk)
        ):
            failures[domain].append((day, result_type, mx, failed))
    types_before = _failed_before(
        conn,
        "result_type",
        sorted(
            {
                (d, rt, plans[d].result_types_before)
                for d in domains
                for day, rt, _, _ in failures[d]
                if day >= plans[d].result_types_before
            }
        ),
    )
    mx_before = _failed_before(
        conn,
        "receiving_mx_hostname",
        sorted(
            {
                (d, mx, plans[d].mx_hosts_before)
                for d in domains
                for day, _, mx, _ in failures[d]
                if mx is not None and day >= plans[d].mx_hosts_before
            }
        ),
    )
    last = {d: max(daily[d]) for d in domains if daily[d]}
    last.update(_last_days(conn, [d for d in domains if not daily[d]]))
    registered = _registered(conn, domains)
    records = has_tlsrpt_record or {}
    by_domain: dict[str, tuple[set[str], set[str]]] = {d: (set(), set()) for d in domains}
    for d, rt in types_before:
        by_domain[d][0].add(rt or EMPTY_RESULT_TYPE)
    for d, mx in mx_before:
        by_domain[d][1].add(mx)
    return {
        d: ReportData(
            domain=d,
            daily=daily[d],
            organizations={o: sorted(days) for o, days in orgs[d].items()},
            failures=[
                FailureCount(day, rt or EMPTY_RESULT_TYPE, mx, n) for day, rt, mx, n in failures[d]
            ],
            result_types_before=frozenset(by_domain[d][0]),
            mx_hosts_before=frozenset(by_domain[d][1]),
            last_report_day=last.get(d),
            expects_reports=records.get(d, False) or d in last,
            registered_at=registered.get(d),
        )
        for d in domains
    }
