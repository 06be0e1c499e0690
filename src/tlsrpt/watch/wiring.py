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
  `tlsrpt serve` runs them on a schedule of their own instead
  (`REPORT_RULES_EVERY`, `tlsrpt.serve.lifecycle`), so that they run when
  its watcher does not (`watch_interval = 0`), and once, not twice.
- An alert event's number (`alert-<id>-<n>`) is the sequence of its
  notifications' idempotency keys: the same event is the same key on every
  attempt, in every process.

The clock is a parameter; so is the deliverer (none: notifications wait in
the outbox for a process that has the channels, e.g. `tlsrpt serve`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_model import AlertEvent
from tlsrpt.analysis.alert_settings import AlertSettings, checker_expiry_days
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

if TYPE_CHECKING:
    from tlsrpt.settings import Settings

EventSink = Callable[[Connection, list[AlertEvent]], None]
# How often `tlsrpt serve` evaluates the report rules: as often as an idle
# watcher's passes end (`WatchConfig.poll`), with or without the watcher.
REPORT_RULES_EVERY = WatchConfig().poll


def nameserver_specs(settings: Settings) -> list[str]:
    """`dns_nameservers` with `dns_port`, as the checker's --nameserver takes them."""
    if settings.dns_port == 53:
        return list(settings.dns_nameservers)
    specs = []
    for host in settings.dns_nameservers:
        try:
            v6 = ipaddress.ip_address(host).version == 6
        except ValueError:
            v6 = False
        specs.append(f"[{host}]:{settings.dns_port}" if v6 else f"{host}:{settings.dns_port}")
    return specs


def checker_options(settings: Settings) -> CheckOptions:
    """The checker options of a watcher from the settings (`watch_*`,
    `dns_*`; the others the checker's defaults). The certificates are
    reported as far ahead as the `[alerts]` look."""
    return CheckOptions(
        nameservers=tuple(nameserver_specs(settings)),
        concurrency=settings.watch_concurrency,
        allow_private=settings.watch_allow_private_addresses,
        smtp_port=settings.watch_smtp_port,
        https_port=settings.watch_https_port,
        ca_file=settings.watch_ca_file,
        expiry_warning_days=checker_expiry_days(settings.alerts),
    )


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
    with_report_rules: bool = True,
) -> Watcher:
    """A watcher whose checks open and resolve alerts and whose passes end
    with the report rules (unless `with_report_rules` is false: the caller
    runs them on a schedule of their own, as `tlsrpt serve` does), every
    alert change notified through the outbox. Raises as `Watcher` does (an
    unusable resolver configuration)."""
    sink = outbox_sink(channels)
    after_pass = [report_rules(store, alerts, sink)] if with_report_rules else []
    return Watcher(
        store,
        options,
        config,
        trust=trust,
        clock=clock,
        owner=owner,
        on_outcome=on_outcome,
        after_check=[check_hook(alerts, sink)],
        after_pass=after_pass,
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
