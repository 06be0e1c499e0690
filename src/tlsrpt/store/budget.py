"""The quarantine budget's counters (`quarantine_budget`): per UTC day and
client address, the inputs and bytes the HTTP receiver quarantined, and
those it refused once the client was over its budget.

`charge` runs inside the ingest transaction (`Store.write()`), whose
writers are serialized on both SQLite and PostgreSQL: reading the day's
counters and adding to them is exact across threads and processes, and
the counters commit together with the quarantined inputs they count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tlsrpt.store.schema import quarantine_budget

_COUNTS = ("inputs", "bytes", "refused_inputs", "refused_bytes")


@dataclass(frozen=True, slots=True)
class Charge:
    """One input that would be quarantined: its client, its size, and the
    client's budget for the day."""

    client: str
    size: int
    max_inputs: int
    max_bytes: int


def charge(conn: Connection, day: date, charges: Sequence[Charge]) -> list[bool]:
    """Per charge, in order: True when it fits in its client's budget for
    `day` (counted as quarantined), False when it does not (counted as
    refused). Call inside a `Store.write()` transaction."""
    if not charges:
        return []
    t = quarantine_budget
    clients = sorted({c.client for c in charges})
    used: dict[str, list[int]] = {
        row.client: [row.inputs, row.bytes]
        for row in conn.execute(
            sa.select(t.c.client, t.c.inputs, t.c.bytes).where(
                t.c.day == day, t.c.client.in_(clients)
            )
        )
    }
    deltas: dict[str, list[int]] = {}
    verdicts: list[bool] = []
    for c in charges:
        inputs, size = used.setdefault(c.client, [0, 0])
        delta = deltas.setdefault(c.client, [0, 0, 0, 0])
        fits = inputs + 1 <= c.max_inputs and size + c.size <= c.max_bytes
        if fits:
            used[c.client] = [inputs + 1, size + c.size]
            delta[0] += 1
            delta[1] += c.size
        else:
            delta[2] += 1
            delta[3] += c.size
        verdicts.append(fits)
    _add(conn, day, deltas)
    return verdicts


def _add(conn: Connection, day: date, deltas: dict[str, list[int]]) -> None:
    t = quarantine_budget
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    for client in sorted(deltas):  # key order: concurrent writers never deadlock
        stmt = dialect.insert(t).values(
            day=day, client=client, **dict(zip(_COUNTS, deltas[client], strict=True))
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.day, t.c.client],
                set_={name: t.c[name] + stmt.excluded[name] for name in _COUNTS},
            )
        )


def usage(conn: Connection, since: date, limit: int = 1000) -> list[dict[str, Any]]:
    """Counters of the days from `since` on, newest day first, the clients
    refused most first."""
    t = quarantine_budget
    query = (
        sa.select(t)
        .where(t.c.day >= since)
        .order_by(t.c.day.desc(), t.c.refused_inputs.desc(), t.c.inputs.desc(), t.c.client)
        .limit(limit)
    )
    return [
        {"day": row.day.isoformat(), "client": row.client, **{n: row._mapping[n] for n in _COUNTS}}
        for row in conn.execute(query)
    ]


def totals(conn: Connection, since: date) -> dict[str, int]:
    """The counters of the days from `since` on, summed over clients."""
    t = quarantine_budget
    row = conn.execute(
        sa.select(*(sa.func.coalesce(sa.func.sum(t.c[n]), 0) for n in _COUNTS)).where(
            t.c.day >= since
        )
    ).one()
    return {name: int(value) for name, value in zip(_COUNTS, row, strict=True)}
