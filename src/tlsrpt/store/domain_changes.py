"""Which domains' counts changed between two report keys: what a reader
that keeps per-domain sums of `domain_days` (`tlsrpt.web.rate_order`)
reads again, rather than every domain.

`domain_days` changes only with the reports stored by the ingest
transaction (`tlsrpt.store.writer.add_rollups`, beside `insert_reports`):
each new report takes the next key (`writer.next_ids`: the highest + 1,
under the write lock, so reports commit in key order), and its counts go
to the domains of its policy results. Retention removes reports but never
their counts (`tlsrpt.store.retention`); a report of the range removed
before this read means its domains are not known any more: None.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.schema import policy_results, reports


def domains_reported(conn: Connection, after: int, upto: int) -> set[str] | None:
    """The domains of the reports with keys in (`after`, `upto`]; None when
    some of these reports are gone (their domains are unknown)."""
    if upto <= after:
        return set()
    p = policy_results.c
    query = sa.select(p.domain).where(p.report_pk > after, p.report_pk <= upto).distinct()
    domains = set(conn.execute(query).scalars())
    # Counted after: all still there then (each statement may see a newer
    # state on PostgreSQL), they were there when their domains were read.
    stored = conn.execute(
        sa.select(sa.func.count()).where(reports.c.id > after, reports.c.id <= upto)
    ).scalar_one()
    return domains if stored == upto - after else None
