"""How many of a user's visible domains are ready for MTA-STS `enforce`, not
ready, or short of data: the overview's counts, over every visible domain,
not only the page shown.

The verdict of each domain (`tlsrpt.store.readiness_reads.readiness`, the
same as everywhere else) does not depend on the period shown, only on the
day; for 1,000 domains and 1,000,000 reports it takes about a second on
SQLite: far over the overview's 150 ms. Reports are only ever added, each
with its roll-ups in one transaction, and snapshots of the watcher too, so
a count stays exact until the highest report or snapshot key or the UTC
day changes. The counts are kept per (domains, day); the first request for
a pair counts at once, and once reports or snapshots have been added a
request gets the kept counts, marked as from an earlier time, while one
background thread counts again.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import Period
from tlsrpt.analysis.readiness import Verdict
from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.store.users import User

Counts = dict[str, int]
Version = tuple[int, int]
log = logging.getLogger(__name__)


def data_version(conn: Connection) -> Version:
    """The highest report and snapshot keys: they change whenever a report
    or a new check state is stored."""
    return reads.last_report_pk(conn), reads.last_snapshot_pk(conn)


def count_verdicts(conn: Connection, user: User, period: Period, names: Sequence[str]) -> Counts:
    """Verdicts of `names` (visible to `user`) as of the period's last day."""
    counts = {str(v): 0 for v in Verdict}
    for verdict in reads.readiness(conn, names, period.end).values():
        counts[str(verdict.verdict)] += 1
    return counts


@dataclass(frozen=True, slots=True)
class Tally:
    counts: Counts
    version: Version
    counted_at: datetime
    current: bool = True  # False: reports were added since; a recount is under way


Key = tuple[object, ...]


class VerdictCounts:
    """`count_verdicts`, kept for the last `size` (domains, period) pairs and
    counted again in the background once reports were added. Thread-safe
    (pages run in a pool)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[Key, Tally] = OrderedDict()
        self._pending: set[Key] = set()
        self._worker: ThreadPoolExecutor | None = None

    def __call__(
        self, store: Store, conn: Connection, user: User, period: Period, names: Sequence[str]
    ) -> Tally:
        key = (period.end, tuple(names))  # the verdict does not depend on the period
        version = data_version(conn)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                if kept.version == version:
                    return kept
                if key not in self._pending:
                    self._pending.add(key)
                    if self._worker is None:
                        self._worker = ThreadPoolExecutor(1, "verdict-counts")
                    self._worker.submit(self._recount, key, store, user, period, names)
                return replace(kept, current=False)
        return self._keep(key, _tally(conn, user, period, names, version))

    def _recount(
        self, key: Key, store: Store, user: User, period: Period, names: Sequence[str]
    ) -> None:
        try:
            with store.read() as conn:
                self._keep(key, _tally(conn, user, period, names, data_version(conn)))
        except Exception:
            log.exception("recounting readiness verdicts failed; the next page view retries")
        finally:
            with self._lock:
                self._pending.discard(key)

    def _keep(self, key: Key, tally: Tally) -> Tally:
        with self._lock:
            self._kept[key] = tally
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return tally


def _tally(
    conn: Connection, user: User, period: Period, names: Sequence[str], version: Version
) -> Tally:
    return Tally(count_verdicts(conn, user, period, names), version, datetime.now(UTC))
