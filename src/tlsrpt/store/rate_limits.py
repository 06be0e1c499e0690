"""Token buckets in the database (`rate_limits`), so that the instances of
`tlsrpt serve` on one PostgreSQL database share their rate limits: a
client's requests are counted once, whichever instance answers them.

`take` is one statement (an upsert) in autocommit, outside the ingest
writers' lock: concurrent requests of one client queue on its row's lock
only, and the database's clock is the one clock every instance reads. It
may take several tokens at once (a lease the process then spends), so
that a burst costs one statement per lease, not per request. The table is
UNLOGGED on PostgreSQL: a crash of the server only refills the buckets.
PostgreSQL only: on SQLite the limiter keeps its buckets in the process
(tlsrpt.web.ratelimit), as one host serves one SQLite file.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tlsrpt.store.engine import Store
from tlsrpt.store.schema import rate_limits


def _now() -> Any:
    return sa.cast(sa.extract("epoch", sa.func.clock_timestamp()), sa.Float)


def take(
    store: Store, rule: str, client: str, rate: float, burst: int, most: int = 1
) -> tuple[int, float]:
    """Take up to `most` tokens from the bucket of (`rule`, `client`), which
    holds at most `burst` tokens and gains `rate` per second: the number
    taken, and when none was free the seconds until one is (else 0)."""
    t = rate_limits
    first = max(1, min(most, burst))
    insert = postgresql.insert(t).values(
        rule=rule, client=client, tokens=float(burst - first), at=_now(), granted=first
    )
    elapsed = sa.func.greatest(0.0, insert.excluded.at - t.c.at)
    refilled = sa.func.least(float(burst), t.c.tokens + elapsed * rate)
    granted = sa.func.least(most, sa.cast(sa.func.floor(refilled), sa.Integer))
    upsert = insert.on_conflict_do_update(
        index_elements=[t.c.rule, t.c.client],
        set_={"tokens": refilled - granted, "at": insert.excluded.at, "granted": granted},
    ).returning(t.c.granted, t.c.tokens)
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        taken, tokens = conn.execute(upsert).one()
    return int(taken), 0.0 if taken else (1.0 - tokens) / rate


def prune(store: Store, rule: str, rate: float, burst: int) -> int:
    """Remove the buckets of `rule` that have refilled (idle clients: a
    missing row is a full bucket); the number removed."""
    t = rate_limits
    full = t.c.tokens + (_now() - t.c.at) * rate >= float(burst)
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn.execute(sa.delete(t).where(t.c.rule == rule, full)).rowcount or 0
