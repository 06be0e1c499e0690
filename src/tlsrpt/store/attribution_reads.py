"""What attribution reads (`tlsrpt.report.attribution`): the registered
domains and their MX hosts as the watcher last saw them (ingest asks), and
how a domain's sessions were attributed over a period (the domain page
and the API show it).

The MX set of a registered domain is the `mx` list of its latest
snapshot (`tlsrpt.watch.snapshot`): canonical JSON, so a host is found by
its exact `"host":"NAME"` text first, and confirmed by reading the
snapshot (a domain never checked has no MX set here).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import Period
from tlsrpt.store.accounts import domains
from tlsrpt.store.schema import policy_results, watch_snapshots
from tlsrpt.store.sums import SumOf, summed

_CHUNK = 100  # names per statement
_N = watch_snapshots.c


def _queryable(names: Collection[str]) -> list[str]:
    """Names a query may carry: report text is hostile (PostgreSQL refuses
    NUL; no domain name is longer than 253 characters)."""
    return sorted({n for n in names if n and "\x00" not in n and len(n) <= 253})


def registered_among(conn: Connection, names: Collection[str]) -> set[str]:
    """The names that are registered domains."""
    found: set[str] = set()
    values = _queryable(names)
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        found.update(conn.scalars(sa.select(domains.c.domain).where(domains.c.domain.in_(chunk))))
    return found


def mx_owners(conn: Connection, hosts: Collection[str]) -> dict[str, set[str]]:
    """Per host, the registered domains whose latest snapshot lists it as
    an MX host (hosts no such domain lists are left out)."""
    out: dict[str, set[str]] = {}
    values = _queryable(hosts)
    latest = (
        sa.select(sa.func.max(_N.id))
        .join(domains, domains.c.domain == _N.domain)
        .group_by(_N.domain)
        .scalar_subquery()
    )
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        named = [
            _N.snapshot.contains(orjson.dumps({"host": h}).decode()[1:-1], autoescape=True)
            for h in chunk
        ]
        query = sa.select(_N.domain, _N.snapshot).where(_N.id.in_(latest), sa.or_(*named))
        wanted = set(chunk)
        for domain, text in conn.execute(query):
            listed = {str(mx.get("host", "")).lower() for mx in orjson.loads(text).get("mx") or ()}
            for host in listed & wanted:
                out.setdefault(host, set()).add(domain)
    return out


@dataclass(frozen=True, slots=True)
class AttributionRow:
    """The sessions of a domain's stored policy results that share a
    policy type, a policy-domain as reported and a way of attribution."""

    policy_type: str
    policy_domain: str | None
    attribution: str
    reports: int
    successful_sessions: int
    failed_sessions: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy_type": self.policy_type,
            "policy_domain": self.policy_domain,
            "attribution": self.attribution,
            "reports": self.reports,
            "successful_sessions": self.successful_sessions,
            "failed_sessions": self.failed_sessions,
        }


def attribution_rows(conn: Connection, domain: str, period: Period) -> list[AttributionRow]:
    """How the domain's sessions in the period were attributed, from the
    stored policy results (one range of their (domain, day) index; reports
    retention removed are not in it), most sessions first."""
    p = policy_results
    keys: Sequence[Any] = (p.c.policy_type, p.c.policy_domain, p.c.attribution)

    def query(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(
                *keys,
                sa.func.count(sa.distinct(p.c.report_pk)),
                *total(p.c.successful_sessions),
                *total(p.c.failed_sessions),
            )
            .where(p.c.domain == domain, p.c.day >= period.start, p.c.day <= period.end)
            .group_by(*keys)
        )

    rows = [
        AttributionRow(t, d, a, int(n), int(ok), int(failed))
        for t, d, a, n, ok, failed in summed(conn, query)
    ]
    rows.sort(key=lambda r: (-(r.successful_sessions + r.failed_sessions), r.attribution))
    return rows
