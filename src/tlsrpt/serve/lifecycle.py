"""The lifecycle of `tlsrpt serve`: what starts, in which order, and how
it stops.

Everything is built before anything starts, so that a setting that
cannot work stops serve before it listens (`StartError`). Then, in this
order, each only when configured:

1. the SMTP receiver (`[receive.smtp]` port): aiosmtpd's thread;
2. the watcher (`watch_interval` > 0): scheduled checks and their
   alerts, on an event loop in a thread of its own;
3. the report rules (`tlsrpt.watch.wiring.report_rules`): every
   `REPORT_RULES_EVERY`, in a thread, whether the watcher runs or not;
4. the daily prune (`retention_days`): a thread (`tlsrpt.retention`);
5. the IMAP poller (`[receive.imap]` host): a thread;
6. the HTTP listener: uvicorn in the foreground, serving the web app
   (`tlsrpt.web.app`) with the HTTP receiver mounted; the app's lifespan
   starts the receiver's group commit and the outbox deliverer
   (`[[notify]]`) and stops them with the listener.

The watcher and the report rules are not started for `--demo` (its
domains are made up). SIGTERM or SIGINT stops the listener once the
requests in flight are answered (a report whose bytes were committed is
always answered); the others then stop in reverse order, each wait
bounded: the IMAP poller finishes the message in hand (it is committed
or left in place), the prune the batch in progress, the report rules
the evaluation in progress, the watcher the checks in progress (stored),
and the SMTP receiver closes.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from tlsrpt.analysis.durations import format_duration
from tlsrpt.check import Trust
from tlsrpt.check.resolver import parse_nameserver
from tlsrpt.receive import imap, smtp
from tlsrpt.receive.dkim_verify import txt_lookup
from tlsrpt.retention import daily_prune
from tlsrpt.serve import StartError
from tlsrpt.serve.listener import uvicorn_config
from tlsrpt.serve.periodic import Periodic
from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store
from tlsrpt.watch.schedule import WatchConfig
from tlsrpt.watch.service import WatcherThread
from tlsrpt.watch.watcher import utc_now
from tlsrpt.watch.wiring import (
    REPORT_RULES_EVERY,
    alerting_watcher,
    checker_options,
    outbox_sink,
    report_rules,
)
from tlsrpt.web.app import create_app

log = logging.getLogger("tlsrpt.serve")

# The longest wait for each to stop, in seconds.
IMAP_STOP_S = 60
PRUNE_STOP_S = 60
REPORT_RULES_STOP_S = 60
WATCHER_STOP_S = 120


@dataclass(frozen=True, slots=True)
class Component:
    """One thing serve runs beside the listener."""

    name: str
    start: Callable[[], None]
    stop: Callable[[], object]  # returns within its bounded wait
    running: str  # the line announced once it runs


def components(settings: Settings, store: Store, *, watch: bool = True) -> list[Component]:
    """What serve runs beside the listener, in starting order, built (not
    started); only what is configured. `watch` false: neither the watcher
    nor the report rules."""
    built = [
        _smtp(settings, store),
        _watcher(settings, store) if watch else None,
        _report_rules(settings, store) if watch else None,
        _prune(settings, store),
        _imap(settings, store),
    ]
    return [part for part in built if part is not None]


def run(
    settings: Settings,
    store: Store,
    *,
    log_level: str = "info",
    watch: bool = True,
    announce: Callable[[str], None] = log.info,
) -> None:
    """Serve until SIGTERM or SIGINT (see the module doc); StartError when
    something cannot start."""
    server = uvicorn.Server(uvicorn_config(create_app(settings, store), settings, log_level))
    parts = components(settings, store, watch=watch)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal
    # to the handler found at start: make that a no-op so a requested
    # stop exits 0 once every request in flight was answered.
    signal.signal(signal.SIGTERM, lambda *_: None)
    with contextlib.ExitStack() as started:  # stops them in reverse order
        for part in parts:
            part.start()
            started.callback(part.stop)
            announce(f"tlsrpt serve: {part.running}")
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; it logged why
            raise StartError(f"could not listen on {settings.host}:{settings.port}") from None


def _dkim_lookup(settings: Settings) -> Callable[..., bytes | None]:
    return txt_lookup(list(settings.dns_nameservers) or None, settings.dns_port)


def _smtp(settings: Settings, store: Store) -> Component | None:
    section = settings.smtp
    if section.port is None:
        return None
    tls = None
    if settings.certfile and settings.keyfile:  # STARTTLS with the listener's certificate
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.certfile, settings.keyfile)
    controller = smtp.controller(store, section, settings.dkim, _dkim_lookup(settings), tls)

    def start() -> None:
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            raise StartError(
                f"could not start SMTP on {section.host}:{section.port}: {exc}"
            ) from exc

    where = f"{', '.join(section.recipients)} at {section.host}:{section.port}"
    return Component("smtp", start, controller.stop, f"SMTP for {where}")


def _imap(settings: Settings, store: Store) -> Component | None:
    if settings.imap.host is None:
        return None
    try:
        config = imap.config_from(settings.imap, settings.dkim, settings.smtp.max_message_bytes)
    except ValueError as exc:
        raise StartError(str(exc)) from exc
    poller = imap.ImapPoller(store, config, _dkim_lookup(settings))
    threads: list[threading.Thread] = []

    def stop() -> None:
        poller.stop()  # finishes the message in hand: it is committed or left in place
        for thread in threads:
            thread.join(timeout=IMAP_STOP_S)

    running = f"IMAP {config.mailbox} ({config.mode})"
    return Component("imap", lambda: threads.append(imap.start(poller)), stop, running)


def _watcher(settings: Settings, store: Store) -> Component | None:
    config = WatchConfig.from_settings(*settings.watch_schedule())
    if not config.enabled:
        return None
    options = checker_options(settings)
    for spec in options.nameservers:
        try:
            parse_nameserver(spec)
        except ValueError as exc:
            raise StartError(str(exc)) from None
    try:
        trust = Trust.load(options.ca_file)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartError(f"watch_ca_file {options.ca_file}: {reason}") from None
    try:
        watcher = alerting_watcher(
            store,
            options,
            config,
            settings.alerts,
            settings.notify,
            trust=trust,
            with_report_rules=False,  # on their own schedule (_report_rules)
        )
    except ValueError as exc:  # no usable resolver configuration: serve without
        logging.getLogger("tlsrpt.watch").error("registered domains are not watched: %s", exc)
        return None
    thread = WatcherThread(watcher)
    running = f"watching registered domains every {settings.watch_interval}"
    return Component("watch", thread.start, lambda: thread.stop(WATCHER_STOP_S), running)


def _report_rules(settings: Settings, store: Store) -> Component:
    evaluate = report_rules(store, settings.alerts, outbox_sink(settings.notify))
    every = Periodic(
        "report rules",
        lambda: evaluate(utc_now()),
        REPORT_RULES_EVERY,
        logging.getLogger("tlsrpt.watch"),
    )
    running = f"evaluating the report alert rules every {format_duration(REPORT_RULES_EVERY)}"
    return Component("report-rules", every.start, lambda: every.stop(REPORT_RULES_STOP_S), running)


def _prune(settings: Settings, store: Store) -> Component | None:
    pruner = daily_prune(settings, store)  # retention_days: short batches
    if pruner is None:
        return None
    running = f"removing reports older than {settings.retention_days} days, daily"
    return Component("prune", pruner.start, lambda: pruner.stop(PRUNE_STOP_S), running)
