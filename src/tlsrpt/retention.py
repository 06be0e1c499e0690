"""Retention: the cut-offs of `tlsrpt prune` and of the daily prune that
`tlsrpt serve` runs beside the receiver (the removal itself, in batches:
`tlsrpt.store.retention`).

A limit of N days keeps today (UTC) and the N days before it: the cut-off
is the UTC midnight N days ago. Reports of earlier UTC days go, and the raw
inputs received before it; the daily roll-ups stay, so totals, trends and
verdicts over any period stay as they were. The other kinds have their own
limits (settings `quarantine_retention_days`, default `retention_days`;
`watch_retention_days`, `alert_retention_days`, `outbox_retention_days`,
0 keeping them forever).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from tlsrpt.store.retention import Cutoffs, prune

if TYPE_CHECKING:
    from tlsrpt.settings import Settings
    from tlsrpt.store.engine import Store

log = logging.getLogger("tlsrpt.retention")

DAILY = timedelta(days=1)
# Between two batches of the daily prune: writers waiting for the lock go
# first (SQLite's busy handler polls every 100 ms at most).
SERVE_PAUSE_S = 0.1


def midnight_before(now: datetime, days: int) -> datetime:
    """The UTC midnight `days` days before `now`'s UTC day, naive (as stored)."""
    today = now.astimezone(UTC).date() if now.tzinfo else now.date()
    return datetime.combine(today - timedelta(days=days), time())


def cutoffs(settings: Settings, now: datetime, older_than: int | None = None) -> Cutoffs | None:
    """The cut-offs of a prune at `now`: `older_than` days (else the
    setting `retention_days`) for reports and raw inputs; None when neither
    is given (nothing is pruned)."""
    days = older_than if older_than is not None else settings.retention_days
    if days is None:
        return None

    def limit(n: int) -> datetime | None:
        return midnight_before(now, n) if n > 0 else None

    return Cutoffs(
        reports=midnight_before(now, days),
        quarantine=midnight_before(now, settings.quarantine_retention_days or days),
        snapshots=limit(settings.watch_retention_days),
        alerts=limit(settings.alert_retention_days),
        outbox=limit(settings.outbox_retention_days),
    )


_WORDS = {
    "reports": ("report", "reports"),
    "policy_results": ("policy result", "policy results"),
    "failure_details": ("failure detail", "failure details"),
    "report_duplicates": ("later copy", "later copies"),
    "raw_inputs": ("raw input", "raw inputs"),
    "snapshots": ("watch snapshot", "watch snapshots"),
    "alerts": ("resolved alert", "resolved alerts"),
    "alert_events": ("event", "events"),
    "outbox": ("delivered notification", "delivered notifications"),
}


def describe(removed: Mapping[str, int]) -> str:
    """What a prune removed, in words."""

    def n(kind: str) -> str:
        one, many = _WORDS[kind]
        return f"{removed[kind]} {one if removed[kind] == 1 else many}"

    return (
        f"{n('reports')} ({n('policy_results')}, {n('failure_details')}, "
        f"{n('report_duplicates')}), {n('raw_inputs')}, {n('snapshots')}, "
        f"{n('alerts')} ({n('alert_events')}), {n('outbox')}"
    )


class DailyPrune:
    """`prune` in a thread of its own: at start, then every `interval`,
    until `stop()`. Batches are short and `pause` apart, so receivers and
    readers never wait long; a failure is logged and tried again at the
    next interval."""

    def __init__(
        self,
        store: Store,
        policy: Callable[[datetime], Cutoffs | None],
        *,
        interval: timedelta = DAILY,
        pause: float = SERVE_PAUSE_S,
    ) -> None:
        self.store, self.policy = store, policy
        self.interval, self.pause = interval, pause
        self.runs = 0  # prunes finished (each logged)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tlsrpt-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval.total_seconds())

    def run_once(self) -> dict[str, int] | None:
        limits = self.policy(datetime.now(UTC))
        if limits is None:
            return None
        try:
            removed = prune(self.store, limits, pause=self.pause, stop=self._stop)
        except Exception as exc:  # the server keeps serving; tried again later
            log.error("retention: the prune failed: %s: %s", type(exc).__name__, exc)
            log.debug("retention: the prune failed", exc_info=True)
            return None
        self.runs += 1
        log.info(
            "retention: removed %s; reports of days before %s",
            describe(removed),
            limits.reports.date().isoformat() if limits.reports else "(none)",
        )
        return removed

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the batch in progress; True once stopped."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()


def daily_prune(settings: Settings, store: Store) -> DailyPrune | None:
    """The prune `tlsrpt serve` runs, or None when `retention_days` is unset."""
    if settings.retention_days is None:
        return None
    return DailyPrune(store, lambda now: cutoffs(settings, now))
