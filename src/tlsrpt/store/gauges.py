"""Reads behind the database-derived Prometheus gauges (tlsrpt.web.metrics).
Each is an index range, never a scan of a big table:

- `domain_sessions`: today's and yesterday's all-types roll-up rows of
  every domain (index `ix_daily_rollups_day`);
- `alerts_firing`: firing alerts counted by rule and severity (the alerts
  table is small: one row per occurrence of a condition);
- the outbox backlog is `tlsrpt.store.outbox.backlog`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_model import FIRING
from tlsrpt.store.schema import ALL, alerts, daily_rollups
from tlsrpt.store.sums import SumOf, summed


def _plain_sum(column: sa.ColumnElement[Any]) -> tuple[sa.ColumnElement[Any], ...]:
    return (sa.func.sum(column),)


def domain_sessions_query(days: Sequence[dt.date], total: SumOf = _plain_sum) -> sa.Select[Any]:
    r = daily_rollups.c
    return (
        sa.select(r.domain, r.day, *total(r.successful_sessions), *total(r.failed_sessions))
        .where(r.day.in_(list(days)), r.policy_type == ALL, r.result_type == ALL)
        .group_by(r.domain, r.day)
    )


def domain_sessions(
    conn: Connection, days: Sequence[dt.date]
) -> list[tuple[str, dt.date, int, int]]:
    """(domain, day, successful sessions, failed sessions) of `days`, exact
    whatever the sums (`tlsrpt.store.sums.summed`)."""
    rows = summed(conn, lambda total: domain_sessions_query(days, total))
    return [(d, day, int(ok), int(failed)) for d, day, ok, failed in rows]


def alerts_firing(conn: Connection) -> list[tuple[str, str, int]]:
    """(rule, severity, number of firing alerts), muted ones included (index
    on domain and phase: the alerts table holds every alert ever opened)."""
    a = alerts.c
    query = (
        sa.select(a.rule, a.severity, sa.func.count())
        .where(a.phase == FIRING)
        .group_by(a.rule, a.severity)
    )
    return [(rule, severity, int(n)) for rule, severity, n in conn.execute(query)]
