"""The watch wired together, as `tlsrpt watch` and `tlsrpt serve` run it:
checks (`tlsrpt.watch.watcher`) -> alerts (`tlsrpt.watch.alerting`) ->
notifications (the outbox, `tlsrpt.store.outbox`, sent by
`tlsrpt.watch.deliver`).

- Each check stores its alerts, and the notifications of their changes,
  in the transaction that stores the check: a check, its alert changes
  and their notifications are committed together or not at all.
- Each pass of the watcher ends with the report rules and the time-driven
  part of the alert lifecycle (resolves whose cooldown passed, mutes that
  ended), their notifications written in that evaluation's transaction.
- An alert event's number (`alert-<id>-<n>`) is the sequence of its
  notifications' idempotency keys: the same event is the same key on every
  attempt, in every process.

The clock is a parameter; so is the deliverer (none: notifications wait in
the outbox for a process that has the channels, e.g. `tlsrpt serve`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_model import AlertEvent
from tlsrpt.analysis.alert_settings import AlertSettings
from tlsrpt.channels import Channel
from tlsrpt.check import CheckOptions, Trust
from tlsrpt.store import outbox
from tlsrpt.store.alerts import changed_since, firing_count
from tlsrpt.store.engine import Store
from tlsrpt.store.watch import has_tlsrpt_records
from tlsrpt.watch.alerting import check_hook, evaluate_report_rules
from tlsrpt.watch.deliver import Deliverer, running
from tlsrpt.watch.schedule import WatchConfig
from tlsrpt.watch.watcher import AfterPass, CheckOutcome, Clock, Watcher, utc_now

EventSink = Callable[[Connection, list[AlertEvent]], None]


def outbox_sink(channels: Sequence[Channel]) -> EventSink:
    """Write each alert event to the outbox, in the caller's transaction
    (the one that recorded the event): one row per channel and recipient."""

    def sink(conn: Connection, events: list[AlertEvent]) -> None:
        for event in events:
            outbox.enqueue(
                conn,
                event.outbox_event,
                event.alert,
                channels,
                now=event.created_at,
                sequence=event.sequence,
            )

    return sink


def report_rules(store: Store, settings: AlertSettings, sink: EventSink) -> AfterPass:
    """The end of a watcher pass: the report rules and the sweep."""

    def evaluate(now: dt.datetime) -> None:
        evaluate_report_rules(store, now, settings, records=has_tlsrpt_records, on_events=sink)

    return evaluate


def alerting_watcher(
    store: Store,
    options: CheckOptions,
    config: WatchConfig,
    alerts: AlertSettings,
    channels: Sequence[Channel],
    *,
    trust: Trust | None = None,
    clock: Clock = utc_now,
    on_outcome: Callable[[CheckOutcome], None] | None = None,
    owner: str | None = None,
) -> Watcher:
    """A watcher whose checks open and resolve alerts and whose passes end
    with the report rules, every alert change notified through the outbox.
    Raises as `Watcher` does (an unusable resolver configuration)."""
    sink = outbox_sink(channels)
    return Watcher(
        store,
        options,
        config,
        trust=trust,
        clock=clock,
        owner=owner,
        on_outcome=on_outcome,
        after_check=[check_hook(alerts, sink)],
        after_pass=[report_rules(store, alerts, sink)],
    )


def deliverer_for(
    store: Store,
    channels: Sequence[Channel],
    public_url: str | None = None,
    clock: Clock = utc_now,
) -> Deliverer | None:
    """A deliverer of the outbox to `channels`; None without channels."""
    if not channels:
        return None
    return Deliverer(store, channels, public_url=public_url, clock=clock)


async def run_cycle(watcher: Watcher, deliverer: Deliverer | None) -> list[CheckOutcome]:
    """One full cycle (`tlsrpt watch --once`): every watched domain checked,
    the report rules evaluated, then every notification that is due sent
    (a channel that fails is retried by a later run; a digest waits for the
    end of its day)."""
    try:
        outcomes = await watcher.run_once()
        if deliverer is not None:
            await deliverer.drain()
        return outcomes
    finally:
        if deliverer is not None:
            await deliverer.aclose()


async def run_schedule(watcher: Watcher, deliverer: Deliverer | None, stop: asyncio.Event) -> None:
    """The schedule until `stop` is set (`tlsrpt watch`), with the deliverer
    sending the outbox beside it."""
    if deliverer is None:
        await watcher.run_forever(stop)
        return
    async with running(deliverer):
        await watcher.run_forever(stop)


@dataclass(frozen=True, slots=True)
class AlertCounts:
    firing: int  # firing and not muted (what `tlsrpt watch --once` exits 1 on)
    new: int  # opened since the start of the cycle
    resolved: int  # resolved since the start of the cycle, still resolved

    def to_json(self) -> dict[str, int]:
        return {"firing": self.firing, "new": self.new, "resolved": self.resolved}


def alert_counts(store: Store, since: dt.datetime, now: dt.datetime) -> AlertCounts:
    """The alerts after a cycle that started at `since`."""
    with store.read() as conn:
        return AlertCounts(firing_count(conn, now), *changed_since(conn, since))
