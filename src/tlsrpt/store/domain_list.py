"""The domain list, one page at a time: what `GET /api/v1/domains` and the
dashboard's overview read. A page costs the same whatever the number of
domains for the default order (by name): the names are listed, and only the
page's domains are read (`domain_days` and the readiness verdict, each a
key range per domain). Ordering by failure rate takes the order from the
caller (kept per process and period, `tlsrpt.web.rate_order`), else sums
the period's all-types `domain_days` rows of every domain (one key range);
by firing alerts counts the firing alerts; ordering by verdict takes the
verdicts from the caller (they are kept per process, `tlsrpt.web.verdicts`).

A cursor is opaque to the caller (URL-safe base64 of the order and the sort
key of the last domain shown): the next page starts after that key, so it
stays stable when domains are added or their figures change between pages.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_model import FIRING
from tlsrpt.analysis.period import Period, rate
from tlsrpt.analysis.readiness import Readiness
from tlsrpt.analysis.reasons import Verdict
from tlsrpt.store.domain_reads import DomainOverview, overview
from tlsrpt.store.schema import ALL, alerts, domain_days
from tlsrpt.store.sums import SumOf, summed
from tlsrpt.store.users import User, visible_domains

Sort = Literal["name", "failure_rate", "verdict", "alerts"]
SORTS: tuple[Sort, ...] = ("name", "failure_rate", "verdict", "alerts")
VERDICT_ORDER = [str(v) for v in Verdict]  # ready, not-ready, insufficient-data
Key = tuple[Any, ...]
_FEW = 500  # names read by key range each; more: one range of every domain
Verdicts = Callable[[Sequence[str]], Mapping[str, str]]
Totals = Mapping[str, tuple[int, int]]  # domain -> (successful, failed) sessions
Ordered = list[tuple[Key, str]]  # (sort key, name), in list order
RateOrder = Callable[[Connection, list[str], Period], Ordered]
NamesOf = Callable[[Connection, User], list[str]]  # the names a user sees, sorted


class BadCursor(ValueError):
    """A cursor this list did not give out (or given for another order)."""


@dataclass(frozen=True, slots=True)
class DomainQuery:
    limit: int = 100
    cursor: str | None = None
    q: str = ""  # a substring of the name, any case
    sort: Sort = "name"


@dataclass(frozen=True, slots=True)
class DomainPage:
    items: list[DomainOverview]
    next_cursor: str | None
    total: int  # domains matching the query, over every page


def encode_cursor(sort: Sort, key: Key) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, *key])).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadCursor("the cursor is not one this list gave out") from exc
    shapes = {"name": (str,), "failure_rate": (int, float, str), "alerts": (int, str)}
    shape = shapes.get(sort, (int, str))
    if (
        not isinstance(value, list)
        or value[:1] != [sort]
        or len(value) != len(shape) + 1
        or not all(isinstance(v, t) for v, t in zip(value[1:], shape, strict=True))
    ):
        raise BadCursor(f"the cursor is not one of this list sorted by {sort}")
    return tuple(value[1:])


def period_totals(
    conn: Connection, names: Sequence[str] | None, period: Period
) -> dict[str, tuple[int, int]]:
    """(successful, failed) sessions per domain of `names` (None: every
    domain with sessions) in the period: a key range per domain for a few
    names, else one range of the all-types level (filtered to the names)."""
    d = domain_days.c
    few = names if names is not None and len(names) <= _FEW else None

    def query(total: SumOf) -> sa.Select[Any]:
        return (
            sa.select(d.domain, *total(d.successful_sessions), *total(d.failed_sessions))
            .where(d.policy_type == ALL, d.day >= period.start, d.day <= period.end)
            .where(d.domain.in_(few) if few is not None else sa.true())
            .group_by(d.domain)
        )

    rows = summed(conn, query)
    if names is None:
        return {dom: (int(ok), int(bad)) for dom, ok, bad in rows}
    wanted = set(names)
    return {dom: (int(ok), int(bad)) for dom, ok, bad in rows if dom in wanted}


def firing_all(conn: Connection) -> dict[str, int]:
    """Firing alerts per domain, every domain."""
    query = (
        sa.select(alerts.c.domain, sa.func.count())
        .where(alerts.c.phase == FIRING)
        .group_by(alerts.c.domain)
    )
    return {domain: int(n) for domain, n in conn.execute(query)}


def rate_order(names: Sequence[str], totals: Totals) -> Ordered:
    """(sort key, name) of every name by failure rate over `totals`: the
    worst first, domains without sessions last, then by name."""
    keyed: Ordered = []
    for name in names:
        ok, failed = totals.get(name, (0, 0))
        r = rate(failed, ok)
        keyed.append(((1, 0.0, name) if r is None else (0, -r, name), name))
    keyed.sort()
    return keyed


def _keys(
    conn: Connection,
    names: list[str],
    sort: Sort,
    period: Period,
    verdicts: Verdicts | None,
    by_rate: RateOrder | None,
) -> Ordered:
    """(sort key, name) of every name, in list order."""
    if sort == "failure_rate":
        if by_rate is not None:
            return by_rate(conn, names, period)
        return rate_order(names, period_totals(conn, names, period))
    if sort == "alerts":  # the most firing alerts first
        firing = firing_all(conn)
        keyed = [((-firing.get(n, 0), n), n) for n in names]
    elif sort == "verdict":
        found = verdicts(names) if verdicts is not None else {}
        rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
        keyed = [((rank.get(found.get(n, ""), len(rank)), n), n) for n in names]
    else:
        return [((n,), n) for n in names]
    keyed.sort()
    return keyed


def matching_names(
    conn: Connection, user: User, q: str, names_of: NamesOf = visible_domains
) -> list[str]:
    """The user's visible domains (`names_of`) whose name holds `q` (any
    case), sorted."""
    names = names_of(conn, user)
    needle = q.strip().lower()
    return [n for n in names if needle in n.lower()] if needle else names


def domain_page(
    conn: Connection,
    user: User,
    period: Period,
    query: DomainQuery,
    names: list[str] | None = None,
    verdicts: Verdicts | None = None,
    known: Mapping[str, Readiness] | None = None,
    by_rate: RateOrder | None = None,
) -> DomainPage:
    """One page of the user's domains matching `query` (`names`: those the
    caller took from `matching_names`), with their totals and readiness
    verdict over the period (judged for the page's domains, but for those
    in `known`: their current readiness as of the period's end, kept by
    the caller; `by_rate`: the caller's `rate_order` of the names, exact
    as of `conn`). Raises BadCursor."""
    after = decode_cursor(query.cursor, query.sort) if query.cursor else None
    if names is None:
        names = matching_names(conn, user, query.q)
    keyed = _keys(conn, names, query.sort, period, verdicts, by_rate)
    start = 0 if after is None else bisect.bisect_right(keyed, after, key=lambda kn: kn[0])
    shown = keyed[start : start + query.limit]
    more = start + query.limit < len(keyed)
    page = [n for _, n in shown]
    rows = {o.analysis.domain: o for o in overview(conn, user, period, page, known)}
    return DomainPage(
        [rows[name] for _, name in shown],
        encode_cursor(query.sort, shown[-1][0]) if more and shown else None,
        len(names),
    )
