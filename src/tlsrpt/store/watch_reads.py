"""What the dashboard reads of watching: per domain the firing alerts and
the earliest certificate expiry of the latest check (the overview), and
one alert as a user may see it (the alerts page's actions).

Visibility follows the reports' rule (`tlsrpt.store.users.can_see`): an
admin sees every alert, the alerts of no domain included; anyone else
only those of the domains given to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_model import FIRING
from tlsrpt.store.alert_reads import any_of
from tlsrpt.store.alerts import get_alert
from tlsrpt.store.schema import alerts, watch_snapshots
from tlsrpt.store.users import User, can_see

_CHUNK = 500  # domains per statement


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    names = list(dict.fromkeys(values))
    for start in range(0, len(names), _CHUNK):
        yield names[start : start + _CHUNK]


def firing_counts(conn: Connection, domains: Sequence[str]) -> dict[str, int]:
    """Per domain, its firing alerts (muted ones included: a mute holds
    notifications back, the condition still holds); domains without any
    are left out."""
    out: dict[str, int] = {}
    for chunk in _chunks(domains):
        query = (
            sa.select(alerts.c.domain, sa.func.count())
            .where(any_of(conn, alerts.c.domain, chunk), alerts.c.phase == FIRING)
            .group_by(alerts.c.domain)
        )
        out.update({domain: int(n) for domain, n in conn.execute(query)})
    return out


def earliest_expiries(conn: Connection, domains: Sequence[str]) -> dict[str, dt.datetime | None]:
    """Per checked domain, when the first certificate its latest check saw
    expires (aware UTC; None when that check saw no certificate); domains
    never checked are left out."""
    n = watch_snapshots.c
    out: dict[str, dt.datetime | None] = {}
    for chunk in _chunks(domains):
        latest = sa.select(sa.func.max(n.id)).where(any_of(conn, n.domain, chunk))
        query = sa.select(n.domain, n.earliest_not_after).where(
            n.id.in_(latest.group_by(n.domain).scalar_subquery())
        )
        for domain, moment in conn.execute(query):
            out[domain] = None if moment is None else moment.replace(tzinfo=dt.UTC)
    return out


def visible_alert(conn: Connection, user: User, alert_id: int) -> dict[str, Any] | None:
    """The alert (`tlsrpt.store.alerts.alert_detail`) when the user may see
    it; None when there is none or it is of a domain not theirs."""
    if not 1 <= alert_id < 2**63:
        return None
    alert = get_alert(conn, alert_id)
    if alert is None:
        return None
    if user.is_admin or (alert["domain"] is not None and can_see(conn, user, alert["domain"])):
        return alert
    return None
