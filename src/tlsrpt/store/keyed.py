"""Many domains, or (domain, day) pairs, in one statement of one bound
parameter: what the readiness reads join against instead of sending one
statement per day (a page of 50 domains has up to 50 different days).

- the names alone go in as `tlsrpt.store.alert_reads.any_of` (`column IN
  (names)`; on PostgreSQL `= ANY(array)`);
- `keyed_days(conn, rows)`: the pairs as a table `k(domain, day)` to join:
  on PostgreSQL `unnest(text[], date[])`, on SQLite `json_each` of a JSON
  array (days as 'YYYY-MM-DD', the form SQLAlchemy stores a date in there,
  so they compare with stored days as text). Either way the statement is
  compiled once whatever the number of pairs.
- `chunks(conn, items)`: how many go in one statement. SQLite: 400, each
  a probe of its index. PostgreSQL: up to 10,000 (every domain of a large
  provider in one statement): from a few hundred domains on, its planner
  rightly prefers one scan of the level read to an index probe per
  domain, and a statement per 400 domains would repeat that scan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

SQLITE_CHUNK = 400  # domains or pairs per statement
POSTGRES_CHUNK = 10_000


def chunks(conn: Connection, items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    size = POSTGRES_CHUNK if conn.dialect.name == "postgresql" else SQLITE_CHUNK
    for i in range(0, len(items), size):
        yield items[i : i + size]


def keyed_days(conn: Connection, rows: Sequence[tuple[str, dt.date]]) -> sa.FromClause:
    """`rows` as a table `k` with columns `domain` and `day`."""
    if conn.dialect.name == "postgresql":
        domains = sa.bindparam(None, [d for d, _ in rows], type_=postgresql.ARRAY(sa.Text))
        days = sa.bindparam(None, [day for _, day in rows], type_=postgresql.ARRAY(sa.Date))
        table = sa.func.unnest(domains, days).table_valued(
            sa.column("domain", sa.Text), sa.column("day", sa.Date)
        )
        return table.render_derived(name="k", with_types=False)
    pairs = orjson.dumps([[d, day.isoformat()] for d, day in rows]).decode()
    each = sa.func.json_each(sa.bindparam(None, pairs)).table_valued("value").alias("j")
    return (
        sa.select(
            sa.func.json_extract(each.c.value, "$[0]").label("domain"),
            sa.func.json_extract(each.c.value, "$[1]").label("day"),
        )
        .select_from(each)
        .subquery("k")
    )
