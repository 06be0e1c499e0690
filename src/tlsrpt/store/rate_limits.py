"""Token buckets in the database (`rate_limits`), so that the instances of
`tlsrpt serve` on one PostgreSQL database share their rate limits: a
client's requests are counted once, whichever instance answers them.

`take` is one statement (an upsert) in its own short transaction, outside
the ingest writers' lock: concurrent requests of one client queue on its
row's lock only, and the database's clock is the one clock every instance
reads. PostgreSQL only: on SQLite the limiter keeps its buckets in the
process (tlsrpt.web.ratelimit), as one host serves one SQLite file.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from tlsrpt.store.schema import rate_limits


def _now() -> Any:
    return sa.cast(sa.extract("epoch", sa.func.clock_timestamp()), sa.Float)


def take(conn: Connection, rule: str, client: str, rate: float, burst: int) -> float:
    """Take a token from the bucket of (`rule`, `client`), which holds at
    most `burst` tokens and gains `rate` per second: 0 when the request is
    allowed (a token was used), else the seconds until a token is free."""
    t = rate_limits
    stmt = postgresql.insert(t).values(
        rule=rule, client=client, tokens=float(burst - 1), at=_now(), allowed=True
    )
    elapsed = sa.func.greatest(0.0, stmt.excluded.at - t.c.at)
    refilled = sa.func.least(float(burst), t.c.tokens + elapsed * rate)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.rule, t.c.client],
        set_={
            "tokens": sa.case((refilled >= 1.0, refilled - 1.0), else_=refilled),
            "at": stmt.excluded.at,
            "allowed": refilled >= 1.0,
        },
    ).returning(t.c.allowed, t.c.tokens)
    allowed, tokens = conn.execute(stmt).one()
    return 0.0 if allowed else (1.0 - tokens) / rate


def prune(conn: Connection, rule: str, rate: float, burst: int) -> int:
    """Remove the buckets of `rule` that have refilled (idle clients: a
    missing row is a full bucket); the number removed."""
    t = rate_limits
    full = t.c.tokens + (_now() - t.c.at) * rate >= float(burst)
    return conn.execute(sa.delete(t).where(t.c.rule == rule, full)).rowcount or 0
