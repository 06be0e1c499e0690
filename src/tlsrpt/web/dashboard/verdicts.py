"""How many of a user's visible domains are ready for MTA-STS `enforce`, not
ready, or short of data: the overview's counts, over every visible domain,
not only the page shown.

The verdict needs each domain's analysis (`reads.overview`, the same
`assess` as everywhere else), which for 1,000 domains and 1,000,000 reports
takes about 0.8 s on SQLite: far over the overview's 150 ms. Reports are only
ever added, each with its roll-ups in one transaction, so the counts stay
exact until the highest report key changes; they are kept per (domains,
period) and computed again only then.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import Period
from tlsrpt.analysis.readiness import Verdict
from tlsrpt.store.schema import reports
from tlsrpt.store.users import User
from tlsrpt.web.api import reads

Counts = dict[str, int]


def data_version(conn: Connection) -> int:
    """The highest report key: changes whenever a report is stored."""
    return int(conn.scalar(sa.select(sa.func.max(reports.c.id))) or 0)


def count_verdicts(conn: Connection, user: User, period: Period, names: Sequence[str]) -> Counts:
    counts = {str(v): 0 for v in Verdict}
    for o in reads.overview(conn, user, period, names) if names else []:
        counts[str(o.readiness.verdict)] += 1
    return counts


class VerdictCounts:
    """`count_verdicts`, remembered for the last `size` (domains, period)
    pairs while no report is added. Thread-safe (pages run in a pool)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[object, ...], tuple[int, Counts]] = OrderedDict()

    def __call__(
        self, conn: Connection, user: User, period: Period, names: Sequence[str]
    ) -> Counts:
        key = (period.start, period.end, tuple(names))
        version = data_version(conn)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == version:
                self._kept.move_to_end(key)
                return dict(kept[1])
        counts = count_verdicts(conn, user, period, names)
        with self._lock:
            self._kept[key] = (version, counts)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return dict(counts)
