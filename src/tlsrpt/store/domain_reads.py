"""The rows one domain's analysis reads (`tlsrpt.analysis.period.analyze`,
then `tlsrpt.analysis.readiness.assess`): its daily roll-ups and its
failure details over a period, as index ranges. Shared by the dashboard
and API (`tlsrpt.web.api.reads`) and by `tlsrpt mta-sts promote`, so both
judge readiness from the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import FailureRow, Period, RollupRow
from tlsrpt.store.queries import SumOf, summed
from tlsrpt.store.schema import ALL, daily_rollups, failure_details


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
