"""The watcher: checks registered domains when they are due and stores
what each check saw.

One pass claims due domains (leases, see `tlsrpt.store.watch`), checks
them with the checker, at most `concurrency` at a time, and stores each
result as soon as it is complete: the snapshot (only when it changed),
the changes against the previous state, the next due time. Database work
runs in threads, so the event loop keeps probing meanwhile; the checks
that complete while one transaction is written share the next one
(`tlsrpt.watch.group_commit`).

Each pass gets a fresh `Checker` (its DNS answers and MX observations are
shared within a pass, never kept beyond it); the trust store is loaded
once. The clock and the random source are parameters.

Hooks: `after_check` runs in the transaction that stores each check (the
alerts of the check, and their notifications, are committed with it);
`after_pass` runs once at the end of every pass, also of a pass that found
nothing due (the report rules and the time-driven part of the alert
lifecycle). Each check is counted in the Prometheus metrics
(`tlsrpt.metrics.observe_check`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from tlsrpt import metrics
from tlsrpt.check import Checker, CheckOptions, DomainReport, Trust, evaluate
from tlsrpt.store import watch as db
from tlsrpt.store.engine import Store
from tlsrpt.watch.changes import Change, diff
from tlsrpt.watch.group_commit import GROUP_LINGER_S, GroupWriter, holding_loop
from tlsrpt.watch.schedule import WatchConfig
from tlsrpt.watch.snapshot import (
    Snapshot,
    canonical,
    digest,
    earliest_not_after,
    severity_counts,
    take_snapshot,
)

log = logging.getLogger("tlsrpt.watch")

Clock = Callable[[], dt.datetime]
# Called inside the transaction that stores a check (alerts can be written
# in the same transaction as the snapshot they come from).
AfterCheck = Callable[[Connection, "CheckOutcome"], None]
# Called (in a worker thread) at the end of every pass, with the time then.
AfterPass = Callable[[dt.datetime], object]
# A pass ends after this long, so that a new Checker starts with fresh DNS answers.
PASS_LIMIT = dt.timedelta(minutes=10)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def process_name() -> str:
    """A lease owner name unique to this process and watcher."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One check as stored (or why it could not be)."""

    domain: str
    checked_at: dt.datetime
    snapshot: Snapshot | None = None
    snapshot_id: int | None = None
    new_state: bool = False
    first: bool = False  # the first snapshot of the domain
    changes: tuple[Change, ...] = ()
    report: DomainReport | None = None
    error: str | None = None  # the check could not be done
    lease_lost: bool = False  # another watcher took the domain over; nothing stored
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "checked_at": self.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "snapshot_id": self.snapshot_id,
            "new_state": self.new_state,
            "first": self.first,
            "findings": self.counts,
            "changes": [c.to_json() for c in self.changes],
            "error": self.error,
            "lease_lost": self.lease_lost,
        }


def check_result(counts: dict[str, int]) -> str:
    """A completed check as the metrics count it: the worst severity found."""
    if counts.get("error"):
        return "error"
    return "warning" if counts.get("warning") else "ok"


def log_outcome(outcome: CheckOutcome) -> None:
    """The default report of a check: a log line naming the kinds of changes
    (stable codes; their summaries hold text from DNS and certificates)."""
    if outcome.error is not None:
        log.warning("%s: %s", outcome.domain, outcome.error)
    elif outcome.new_state:
        kinds = ", ".join(sorted({c.kind for c in outcome.changes})) or "details changed"
        if outcome.first:
            kinds = "first check"
        counts = outcome.counts
        log.info(
            "%s: %s; %d errors, %d warnings",
            outcome.domain,
            kinds,
            counts.get("error", 0),
            counts.get("warning", 0),
        )
    elif not outcome.lease_lost:  # a lost lease was logged when it was found
        log.debug("%s: unchanged", outcome.domain)


class Watcher:
    def __init__(
        self,
        store: Store,
        options: CheckOptions,
        config: WatchConfig,
        *,
        trust: Trust | None = None,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        owner: str | None = None,
        after_check: Sequence[AfterCheck] = (),
        after_pass: Sequence[AfterPass] = (),
        on_outcome: Callable[[CheckOutcome], None] | None = None,
    ) -> None:
        """Raises ValueError when the checker has no usable resolver
        configuration, OSError/ValueError for an unusable `ca_file`."""
        self.store = store
        self.options = options
        self.config = config
        self.trust = trust or Trust.load(options.ca_file)
        self.clock = clock
        self.rng = rng or random.Random()
        self.owner = owner or process_name()
        self.after_check = tuple(after_check)
        self.after_pass = tuple(after_pass)
        self.on_outcome = on_outcome or log_outcome
        self._overrides_synced = False
        Checker(options, self.trust)  # fail now, not in the first pass, on a bad resolver

    # --- the schedule ---------------------------------------------------

    def _sync(self) -> None:
        now = self.clock()
        overrides = self.config.override_seconds()
        with self.store.lease_write() as conn:
            new = db.add_new_domains(
                conn, lambda n: self.config.first_due(now, n, self.rng), overrides
            )
            if not self._overrides_synced:
                db.set_overrides(conn, overrides)
        self._overrides_synced = True
        if new:
            log.info("watching %d new domain(s)", len(new))

    def _claim(
        self,
        limit: int,
        checked_before: dt.datetime | None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> list[str]:
        with holding_loop(self.store.lease_write, loop) as conn:
            return db.claim(
                conn, self.owner, self.clock(), self.config.lease, limit, checked_before
            )

    def _release(self, names: Sequence[str]) -> None:
        with self.store.lease_write() as conn:
            db.release(conn, self.owner, names)

    # --- one check --------------------------------------------------------

    async def _check(self, checker: Checker, writer: GroupWriter, domain: str) -> CheckOutcome:
        started = time.monotonic()
        try:
            facts = await checker.gatherer.gather(domain)
            now = self.clock()
            report = evaluate(facts, self.trust.store, now, self.options.expiry_warning_days)
            snapshot = take_snapshot(facts, report)
        except Exception as exc:  # a checker defect must not stop the watcher
            metrics.observe_check(time.monotonic() - started, "failed")
            log.debug("check of %s failed", domain, exc_info=True)
            error = f"the check failed: {type(exc).__name__}: {exc}"
            failed = (domain, self.clock(), error)
            return await self._stored(writer, domain, self._store_failure, *failed)
        metrics.observe_check(time.monotonic() - started, check_result(severity_counts(snapshot)))
        return await self._stored(writer, domain, self._store, domain, now, snapshot, report)

    async def _stored(
        self,
        writer: GroupWriter,
        domain: str,
        store: Callable[..., CheckOutcome],
        *args: Any,
    ) -> CheckOutcome:
        """`store(conn, *args)` in a transaction of `writer` (shared with
        other checks). When it fails (the database refused the transaction:
        nothing of the check is stored), the domain's lease is given back
        before the error goes on, so that the next pass, of this process or
        another, checks it again at once."""
        try:
            return await writer.submit(lambda conn: store(conn, *args))
        except Exception:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._release, [domain])
            raise

    def _store(
        self,
        conn: Connection,
        domain: str,
        now: dt.datetime,
        snapshot: Snapshot,
        report: DomainReport,
    ) -> CheckOutcome:
        counts = severity_counts(snapshot)
        summary = db.SnapshotSummary(
            counts["error"], counts["warning"], earliest_not_after(snapshot)
        )
        text = canonical(snapshot).decode()
        next_due = self.config.next_due(domain, now, self.rng)
        if not db.finish(conn, domain, self.owner, now, next_due):
            return self._lost(domain, now)
        recorded = db.record_snapshot(
            conn, domain, text, digest(snapshot), summary, now, self.config.keepalive
        )
        changes: tuple[Change, ...] = ()
        if recorded.previous is not None:
            changes = tuple(diff(orjson.loads(recorded.previous), snapshot))
        outcome = CheckOutcome(
            domain,
            now,
            snapshot,
            recorded.snapshot_id,
            recorded.new_state,
            recorded.new_state and recorded.previous is None,
            changes,
            report,
            counts=counts,
        )
        for hook in self.after_check:
            hook(conn, outcome)
        return outcome

    def _store_failure(
        self, conn: Connection, domain: str, now: dt.datetime, error: str
    ) -> CheckOutcome:
        next_due = self.config.next_due(domain, now, self.rng)
        if not db.finish(conn, domain, self.owner, now, next_due, error):
            return self._lost(domain, now)
        return CheckOutcome(domain, now, error=error)

    def _lost(self, domain: str, now: dt.datetime) -> CheckOutcome:
        log.warning("the lease of %s ran out before its check was stored; not stored", domain)
        return CheckOutcome(domain, now, lease_lost=True)

    # --- passes -----------------------------------------------------------

    async def _pass(
        self, checked_before: dt.datetime | None, stop: asyncio.Event | None
    ) -> list[CheckOutcome]:
        """The checks of one pass, then the `after_pass` hooks."""
        outcomes = await self._checks(checked_before, stop)
        for hook in self.after_pass:
            await asyncio.to_thread(hook, self.clock())
        return outcomes

    async def _checks(
        self, checked_before: dt.datetime | None, stop: asyncio.Event | None
    ) -> list[CheckOutcome]:
        """Claim and check until nothing is left to claim (or `stop` is set,
        or the pass is old enough for a fresh checker)."""
        await asyncio.to_thread(self._sync)
        checker = Checker(self.options, self.trust)
        # SQLite: the loop waits while the write lock, which report
        # ingestion needs too, is held (`group_commit.holding_loop`)
        hold = asyncio.get_running_loop() if self.store.is_sqlite else None
        writer = GroupWriter(
            self.store.lease_write, linger=GROUP_LINGER_S, hold_loop=hold is not None
        )
        # claims in batches too: a claim is a write transaction
        batch = max(1, self.options.concurrency // 10)
        probed = False
        started = self.clock()
        outcomes: list[CheckOutcome] = []
        running: set[asyncio.Task[CheckOutcome]] = set()
        names_of: dict[asyncio.Task[CheckOutcome], str] = {}
        exhausted = False
        try:
            while True:
                room = max(1, self.options.concurrency) - len(running)
                stopping = stop is not None and stop.is_set()
                wanted = room >= batch or (room > 0 and not running)
                if wanted and not exhausted and not stopping:
                    if self.clock() - started > PASS_LIMIT and checked_before is None:
                        exhausted = True
                    else:
                        names = await asyncio.to_thread(self._claim, room, checked_before, hold)
                        exhausted = len(names) < room  # nothing more to claim now
                        if names and not probed:
                            await self._probe_resolver(checker, names)
                            probed = True
                        for name in names:
                            task = asyncio.create_task(self._check(checker, writer, name))
                            names_of[task] = name
                            running.add(task)
                if not running:
                    return outcomes
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    outcome = task.result()
                    outcomes.append(outcome)
                    self.on_outcome(outcome)
        finally:
            for task in running:
                task.cancel()
            for task in running:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await writer.aclose()
            await checker.aclose()
            if running:  # interrupted: give the unfinished domains back at once
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._release, [names_of[t] for t in running])

    async def _probe_resolver(self, checker: Checker, claimed: list[str]) -> None:
        """A dead resolver would turn every snapshot into DNS failures: raise
        ResolverUnavailable (an environment error) and give the claims back."""
        try:
            await checker.check_resolver()
        except Exception:
            await asyncio.to_thread(self._release, claimed)
            raise

    async def run_due(self, stop: asyncio.Event | None = None) -> list[CheckOutcome]:
        """Check every domain that is due now (one pass)."""
        return await self._pass(None, stop)

    async def run_once(self) -> list[CheckOutcome]:
        """One full cycle: every watched domain, due or not. Domains another
        process holds are waited for (until it stores them or its lease runs
        out and this one takes them)."""
        start = self.clock()
        outcomes = await self._pass(start, None)
        while await asyncio.to_thread(self._unchecked, start):
            await asyncio.sleep(1.0)
            outcomes += await self._pass(start, None)
        return outcomes

    def _unchecked(self, since: dt.datetime) -> int:
        with self.store.lease_write() as conn:
            return db.unchecked_count(conn, since)

    def _sleep_for(self) -> float:
        with self.store.lease_write() as conn:
            due = db.next_due_at(conn)
        wait = self.config.poll
        if due is not None:
            wait = min(wait, max(due - self.clock(), dt.timedelta(seconds=1)))
        return wait.total_seconds()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Run the schedule until `stop` is set; checks in progress then
        finish and are stored. Database trouble is logged and retried."""
        while not stop.is_set():
            try:
                await self.run_due(stop)
                wait = await asyncio.to_thread(self._sleep_for)
            except Exception as exc:  # the database went away; try again later
                wait = self.config.poll.total_seconds()
                first_line = (str(exc) or type(exc).__name__).splitlines()[0]
                log.error("watch pass failed (%s); trying again in %.0f s", first_line, wait)
                log.debug("watch pass failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
