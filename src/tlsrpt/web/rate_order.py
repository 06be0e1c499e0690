"""The domain list's order by failure rate, kept per process and period:
the API's and the overview's list sorted by failure rate.

The order needs the period's totals of every domain; summing them is one
pass over all domains' days (half a second for 10,000 domains over 30
days, on SQLite), far over a page's 150 ms. They are kept per period with
the highest report key they include. A page that finds reports added
since reads again only the domains of these reports
(`tlsrpt.store.domain_changes`: each report's counts go to its domains in
its transaction, and report keys grow with commits) and takes the others'
totals as kept, so the order stays exact after every report. All domains
are summed again only for a period not kept, or when reports of the range
added were removed meanwhile (their domains are unknown), or for a page
whose snapshot is older than what is kept. The order of a list of names
is kept with the totals it was made from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import Period
from tlsrpt.store import reads
from tlsrpt.store.domain_changes import domains_reported
from tlsrpt.store.domain_list import Ordered, Totals, period_totals, rate_order

PeriodKey = tuple[object, object]


@dataclass(frozen=True, slots=True)
class _Kept:
    version: int  # the highest report key the totals include
    totals: Totals
    names: list[str] | None = None  # the names `order` is of
    order: Ordered | None = None


class RateOrders:
    """`rate_order` of a list of names as of a connection's snapshot, with
    the totals kept for the last `size` periods. Thread-safe."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[PeriodKey, _Kept] = OrderedDict()

    def __call__(self, conn: Connection, names: list[str], period: Period) -> Ordered:
        key = (period.start, period.end)
        with self._lock:
            kept = self._kept.get(key)
        version = reads.last_report_pk(conn)
        if kept is not None and kept.version == version:
            if kept.names == names and kept.order is not None:
                return kept.order
            totals = kept.totals
        else:
            totals = _totals(conn, period, version, kept)
        order = rate_order(names, totals)
        self._keep(key, _Kept(version, totals, list(names), order))
        return order

    def _keep(self, key: PeriodKey, new: _Kept) -> None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or kept.version <= new.version:  # never an older snapshot's
                self._kept[key] = new
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)


def _totals(conn: Connection, period: Period, version: int, kept: _Kept | None) -> Totals:
    """Every domain's totals as of `version`: those kept, with the domains
    reported since read again; all read when that cannot be done."""
    changed = None
    if kept is not None and kept.version < version:
        changed = domains_reported(conn, kept.version, version)
    if kept is None or changed is None:
        return period_totals(conn, None, period)
    fresh = period_totals(conn, sorted(changed), period)
    totals = dict(kept.totals)
    for name in changed:
        totals.pop(name, None)
    totals.update(fresh)
    return totals
