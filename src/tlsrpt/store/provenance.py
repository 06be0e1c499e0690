"""What a raw input holds, as far as the store knows: the attributed policy
domains of every report stored from it or found again in it. A user who is
not an admin may have an input's bytes only when all of them are theirs
(`tlsrpt.store.reads`); this module answers the question for a batch of
inputs in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.schema import policy_results, raw_inputs, report_duplicates, reports

_CHUNK = 500  # bound parameters per IN list


@dataclass(slots=True)
class Coverage:
    """The policy domains in one raw input. `complete` is False when the
    input may hold more than its stored policies show: a part that could
    not be stored (the input's notes), a report found again with different
    content (a conflicting duplicate), or a report without any policy."""

    domains: set[str] = field(default_factory=set)
    complete: bool = True


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    unique = sorted(set(ids))
    return [unique[i : i + _CHUNK] for i in range(0, len(unique), _CHUNK)]


def raw_coverage(conn: Connection, raw_ids: Sequence[int]) -> dict[int, Coverage]:
    """Coverage of each of `raw_ids` that exists."""
    out: dict[int, Coverage] = {}
    r, d, p = reports, report_duplicates, policy_results
    for chunk in _chunks(raw_ids):
        query = sa.select(raw_inputs.c.id, raw_inputs.c.notes).where(raw_inputs.c.id.in_(chunk))
        for raw_id, notes in conn.execute(query):
            out[raw_id] = Coverage(complete=notes in (None, "", "[]"))
        stored = sa.select(r.c.raw_id, r.c.id.label("report_pk"), sa.false().label("conflict"))
        again = sa.select(d.c.raw_id, d.c.report_pk, d.c.conflict)
        found = stored.where(r.c.raw_id.in_(chunk)).union_all(again.where(d.c.raw_id.in_(chunk)))
        links = found.subquery()
        query = sa.select(links.c.raw_id, links.c.conflict, p.c.domain).outerjoin(
            p, p.c.report_pk == links.c.report_pk
        )
        conflict: bool
        domain: str | None  # None: the outer join found no policy
        for raw_id, conflict, domain in conn.execute(query):
            coverage = out.setdefault(raw_id, Coverage())
            if conflict or domain is None:  # other content, or no policy at all
                coverage.complete = False
            if domain is not None:
                coverage.domains.add(domain)
    return out
