"""The readiness verdicts of all of a user's visible domains, kept per
process: the overview's counts (over every visible domain, not only the
page shown) and the domain list sorted by verdict.

The verdict of each domain (`tlsrpt.store.readiness_reads.readiness`, the
same as everywhere else) does not depend on the period shown, only on the
day; for 10,000 domains it takes seconds, far over a page's 150 ms. Reports
are only ever added, each with its roll-ups in one transaction, and
snapshots of the watcher too, so the verdicts stay exact until the highest
report or snapshot key, the number of domains, or the UTC day changes.
They are kept per (user's domains, search, day). A request that finds
them out of date gets them, marked as from an earlier time, while one
background thread judges again; a request that finds none either waits
for them (the list sorted by verdict) or starts the background judging
and goes on without them (the overview: its first view after a restart
stays fast, its counts follow on a later view).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import Period
from tlsrpt.analysis.readiness import Readiness, Verdict
from tlsrpt.store import reads
from tlsrpt.store.domain_list import (
    DomainPage,
    DomainQuery,
    NamesOf,
    RateOrder,
    domain_page,
    matching_names,
)
from tlsrpt.store.engine import Store
from tlsrpt.store.users import User, visible_domains
from tlsrpt.web.heap import settle

Version = tuple[int, int, int]
Key = tuple[object, ...]
log = logging.getLogger(__name__)


def data_version(conn: Connection, names: Sequence[str]) -> Version:
    """The highest report and snapshot keys (they change whenever a report
    or a new check state is stored) and the number of domains."""
    return reads.last_report_pk(conn), reads.last_snapshot_pk(conn), len(names)


@dataclass(frozen=True, slots=True)
class Tally:
    readiness: dict[str, Readiness]  # domain -> its readiness
    version: Version
    counted_at: datetime
    current: bool = True  # False: reports were added since; a recount is under way
    verdicts: dict[str, str] = field(init=False)
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        verdicts = {d: str(r.verdict) for d, r in self.readiness.items()}
        found = Counter(verdicts.values())
        object.__setattr__(self, "verdicts", verdicts)
        object.__setattr__(self, "counts", {str(v): found[str(v)] for v in Verdict})


def judge(conn: Connection, names: Sequence[str], day: date, version: Version) -> Tally:
    return Tally(reads.readiness(conn, names, day), version, datetime.now(UTC))


class VerdictCache:
    """Verdicts kept for the last `size` (domains, search, day) keys, judged
    again in the background once reports were added. Thread-safe (pages
    run in a pool)."""

    def __init__(self, size: int = 64, delay: float = 1.0) -> None:
        self._size = size
        self._delay = delay  # before a first judging: the view that asked is answered first
        self._lock = threading.Lock()
        self._kept: OrderedDict[Key, Tally] = OrderedDict()
        self._pending: set[Key] = set()
        self._worker: ThreadPoolExecutor | None = None
        self._closed = threading.Event()

    def close(self) -> None:
        """Stop judging (the app stops; its store may be closed next)."""
        self._closed.set()
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True, cancel_futures=True)

    def get(
        self,
        store: Store,
        conn: Connection,
        user: User,
        day: date,
        names: Sequence[str],
        *,
        search: str = "",
        wait: bool = True,
    ) -> Tally | None:
        """The verdicts of `names` (the user's visible domains matching
        `search`) as of `day`; None when none are kept and not `wait`."""
        key = (day, "*" if user.is_admin else user.id, search)
        version = data_version(conn, names)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                if kept.version == version:
                    return kept
            if kept is not None or not wait:
                self._later(key, store, day, names, 0.0 if kept else self._delay)
                return None if kept is None else replace(kept, current=False)
        return self._keep(key, judge(conn, names, day, version))

    def _later(self, key: Key, store: Store, day: date, names: Sequence[str], delay: float) -> None:
        """Judge in the background (the caller holds the lock)."""
        if key in self._pending or self._closed.is_set():
            return
        self._pending.add(key)
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, "verdicts")
        self._worker.submit(self._judge, key, store, day, list(names), delay)

    def _judge(self, key: Key, store: Store, day: date, names: Sequence[str], delay: float) -> None:
        if self._closed.wait(delay):
            return
        try:
            with store.read() as conn:
                self._keep(key, judge(conn, names, day, data_version(conn, names)))
        except Exception:
            log.exception("judging readiness verdicts failed; the next page view retries")
        finally:
            with self._lock:
                self._pending.discard(key)

    def _keep(self, key: Key, tally: Tally) -> Tally:
        with self._lock:
            self._kept[key] = tally
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        settle()  # kept until the next recount: out of the collector's way
        return tally


def domain_list(
    store: Store,
    cache: VerdictCache,
    user: User,
    period: Period,
    query: DomainQuery,
    *,
    counts: bool,
    by_rate: RateOrder | None = None,
    names_of: NamesOf = visible_domains,
) -> tuple[DomainPage, Tally | None]:
    """A page of the domain list; with `counts` (or sorted by verdict) also
    the verdicts of every matching domain, when kept (sorted by verdict: at
    once). The page's readiness is taken from them while they are current
    (the same verdicts, judged from the same rows), else judged for the
    page's domains; sorted by failure rate, the order is `by_rate`'s
    (`tlsrpt.web.rate_order`); the names are `names_of`'s
    (`tlsrpt.store.visible_names`). Raises `tlsrpt.store.domain_list.BadCursor`."""
    with store.read() as conn:
        names = matching_names(conn, user, query.q, names_of)
        tally = None
        if counts or query.sort == "verdict":
            wait = query.sort == "verdict"
            search = query.q.strip().lower()
            tally = cache.get(store, conn, user, period.end, names, search=search, wait=wait)
        verdicts = tally.verdicts if tally is not None else {}
        known = tally.readiness if tally is not None and tally.current else None
        page = domain_page(
            conn, user, period, query, names, lambda _names: verdicts, known, by_rate
        )
    return page, tally
