"""What explains a domain's failures: its failure groups over a period with
the policies the senders named, and the history of what was published
then (the watcher's states, the hosted policy versions). The explanation
itself is the pure `tlsrpt.analysis.failure_context`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.failure_context import (
    MAX_GAP,
    FailureExplanation,
    FailureGroup,
    GroupRow,
    History,
    explain_groups,
    failure_groups,
)
from tlsrpt.analysis.failure_facts import CheckState
from tlsrpt.analysis.period import Period
from tlsrpt.store.hosted import history as hosted_history
from tlsrpt.store.schema import failure_details, policy_results
from tlsrpt.store.sums import SumOf, summed
from tlsrpt.store.watch import states_between


def _strings(text: str) -> tuple[str, ...]:
    try:
        lines = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ()
    return tuple(str(s) for s in lines) if isinstance(lines, list) else ()


def group_rows(conn: Connection, domain: str, period: Period) -> list[GroupRow]:
    """The domain's failures in the period, summed per day, result type,
    receiving MX, failure-reason-code and the policy they were under."""
    f, p = failure_details, policy_results
    keys = (
        f.c.day,
        f.c.result_type,
        f.c.receiving_mx_hostname,
        f.c.failure_reason_code,
        p.c.policy_type,
        p.c.policy_strings,
    )

    def query(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(*keys, *total(f.c.failed_session_count))
            .join(p, sa.and_(p.c.report_pk == f.c.report_pk, p.c.ordinal == f.c.policy_ordinal))
            .where(f.c.domain == domain, f.c.day >= period.start, f.c.day <= period.end)
            .group_by(*keys)
        )

    return [
        GroupRow(day, rtype, mx, code, ptype, _strings(strings), int(n))
        for day, rtype, mx, code, ptype, strings, n in summed(conn, query)
    ]


def failure_history(conn: Connection, domain: str, period: Period) -> History:
    """The watcher's states that held during the period (and the one before
    it, within `MAX_GAP`, so a day without checks can name the latest
    check), and every hosted version of the domain's policy."""
    start = dt.datetime.combine(period.start, dt.time(), dt.UTC) - MAX_GAP
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), dt.UTC)
    states = [
        CheckState(row.first_seen_at, row.last_seen_at, orjson.loads(row.snapshot))
        for row in states_between(conn, domain, start, end)
    ]
    return History(states, hosted_history(conn, domain))


def explained_failures(
    conn: Connection, domain: str, period: Period
) -> list[tuple[FailureGroup, FailureExplanation]]:
    """The domain's failure groups in the period (newest day first), each
    with its explanation."""
    groups = failure_groups(group_rows(conn, domain, period))
    if not groups:
        return []
    return explain_groups(groups, failure_history(conn, domain, period))
