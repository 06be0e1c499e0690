"""`tlsrpt watch [--once]`: check every domain registered with `tlsrpt
domain add` on a schedule and keep the history of what changed.

Without --once, runs until SIGINT or SIGTERM: domains are checked when
they are due (`watch_interval`, default 6h, per domain `watch_intervals`),
checks in progress finish and are stored before it exits. Several
watchers (and `tlsrpt serve`) may share one PostgreSQL database: each due
domain is checked by one of them.

With --once, checks every watched domain once, due or not, prints the
findings and changes of each, evaluates the report rules, sends the
notifications that are due and exits.

Each check opens and resolves alerts (`[alerts]` settings); every alert
change is written to the notification outbox in the same transaction and
sent to the `[[notify]]` channels while the command runs.

Settings (`--config FILE`, `TLSRPT_*` variables): the `watch_*` keys,
`[alerts]`, `[[notify]]`, `public_url` and `database_url` as for `tlsrpt
serve`; the checker options below override `watch_ca_file`,
`watch_smtp_port`, ... and `dns_nameservers`. --expiry-warning-days
defaults to one more than the largest `mx-certificate-expiring` threshold.

Exit status of --once: 0 no alert firing after the cycle, 1 some alert
firing (and not muted), 2 usage or environment error (database, trust
store, resolver configuration) or a check that could not be done.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlsrpt.cli.check import add_checker_arguments, event_loop_runner, load_trust, options_from
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import (
    SafeLogFormatter,
    UsageError,
    console,
    err_console,
    print_json_line,
)
from tlsrpt.cli.watch_output import print_outcome

if TYPE_CHECKING:
    from tlsrpt.check import CheckOptions
    from tlsrpt.settings import Settings
    from tlsrpt.watch.deliver import Deliverer
    from tlsrpt.watch.watcher import CheckOutcome, Clock, Watcher
    from tlsrpt.watch.wiring import AlertCounts

# Checker options that fall back to a setting when not given on the command
# line, and where their default comes from.
_FROM_SETTINGS = {
    "nameserver": "dns_nameservers and dns_port",
    "ca_file": "watch_ca_file",
    "allow_private_addresses": "watch_allow_private_addresses",
    "smtp_port": "watch_smtp_port",
    "https_port": "watch_https_port",
    "concurrency": "watch_concurrency",
    "expiry_warning_days": "one more than the largest mx-certificate-expiring threshold of "
    "[alerts]",
}
_UNSET = "\0unset\0"  # in a help text: the option's value when nothing is set


class _SettingDefaults(argparse.RawDescriptionHelpFormatter):
    """Help that shows the real default of an option taken from the
    settings: the value `check_options` uses when nothing is set, computed
    when the help is printed (parsing a command line does not import the
    settings)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text is None or _UNSET not in text:
            return text
        value = _fallback(_default_settings())[action.dest]
        if isinstance(value, bool):
            shown = "on" if value else "off"
        elif value is None or value == []:
            shown = "none" if action.dest != "nameserver" else "the system's"
        else:
            shown = ", ".join(value) if isinstance(value, list) else str(value)
        return text.replace(_UNSET, shown.replace("%", "%%"))


def _default_settings() -> Settings:
    from tlsrpt.settings import Settings

    return Settings()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "watch",
        help="check registered domains on a schedule and keep their history",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=_SettingDefaults,
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="check every watched domain once, due or not, and exit",
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file")
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per check per line")
    add_checker_arguments(
        p,
        {name: f"default: {where}, {_UNSET} if not set" for name, where in _FROM_SETTINGS.items()},
    )
    # Not given: the setting (watch_*, dns_nameservers) or its default.
    p.set_defaults(func=run, **dict.fromkeys(_FROM_SETTINGS))


def check_options(settings: Settings, args: argparse.Namespace) -> CheckOptions:
    """The checker options of a watcher: the command line's, else the settings'."""
    for name, value in _fallback(settings).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return options_from(args)


def _fallback(settings: Settings) -> dict[str, Any]:
    """The checker options `settings` give (those in `_FROM_SETTINGS`)."""
    from tlsrpt.watch.wiring import checker_options

    base = checker_options(settings)
    return {
        "nameserver": list(base.nameservers),
        "ca_file": base.ca_file,
        "allow_private_addresses": base.allow_private,
        "smtp_port": base.smtp_port,
        "https_port": base.https_port,
        "concurrency": base.concurrency,
        "expiry_warning_days": base.expiry_warning_days,
    }


def load_watch_settings(config: Path | None, db: str | None) -> Settings:
    from tlsrpt.settings import SettingsError, load_settings

    try:
        return load_settings(config, {"database_url": db})
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc


def run(args: argparse.Namespace, clock: Clock | None = None) -> int:
    """`tlsrpt watch`; `clock` (default: the system's) for tests."""
    from tlsrpt.check.resolver import ResolverUnavailable
    from tlsrpt.watch import wiring
    from tlsrpt.watch.schedule import WatchConfig
    from tlsrpt.watch.watcher import utc_now

    now = clock or utc_now
    settings = load_watch_settings(args.config, args.db)
    config = WatchConfig.from_settings(*settings.watch_schedule())
    if not args.once and not config.enabled:
        raise UsageError("watch_interval is 0: scheduled checks are off (use --once)")
    options = check_options(settings, args)
    trust = load_trust(options.ca_file)
    args.db = settings.database_url
    # asyncio logs harmless TLS shutdown notices that are not the user's business.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    if not args.once:
        handler = logging.StreamHandler()
        handler.setFormatter(SafeLogFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    with opened_store(args) as store:

        def show(outcome: CheckOutcome) -> None:
            if args.json:
                print_json_line(outcome.to_json())
            else:
                print_outcome(console, outcome)

        try:
            watcher = wiring.alerting_watcher(
                store,
                options,
                config,
                settings.alerts,
                settings.notify,
                trust=trust,
                clock=now,
                on_outcome=show,
            )
        except ValueError as exc:  # no usable resolver configuration
            raise UsageError(str(exc)) from None
        deliverer = wiring.deliverer_for(store, settings.notify, settings.public_url, now)
        if args.once:
            since, started = now(), time.monotonic()
            try:
                outcomes = event_loop_runner()(wiring.run_cycle(watcher, deliverer))
            except ResolverUnavailable as exc:
                raise UsageError(str(exc)) from None
            alerts = wiring.alert_counts(store, since, now())
            return _summary(outcomes, alerts, time.monotonic() - started, args.json)
        event_loop_runner()(_forever(watcher, deliverer))
    return 0


def _summary(
    outcomes: list[CheckOutcome], alerts: AlertCounts, seconds: float, as_json: bool
) -> int:
    """The last line of --once (a JSON object with --json) and its exit status."""
    failed = sum(1 for o in outcomes if o.error is not None)
    changed = sum(1 for o in outcomes if o.changes)
    if not outcomes:
        err_console.print(
            "no domain to watch: register domains with `tlsrpt domain add`", markup=False
        )
    if as_json:
        summary = {
            "domains": len(outcomes),
            "changed": changed,
            "errors": failed,
            "lease_lost": sum(1 for o in outcomes if o.lease_lost),
            "alerts": alerts.to_json(),
            "seconds": round(seconds, 3),
        }
        print_json_line({"summary": summary})
    elif outcomes:
        console.print(
            f"{len(outcomes)} domain(s) checked in {seconds:.1f} s: {changed} with changes, "
            f"{failed} failed; {alerts.firing} alert(s) firing ({alerts.new} new, "
            f"{alerts.resolved} resolved)",
            markup=False,
        )
    if failed:
        return 2
    return 1 if alerts.firing else 0


async def _forever(watcher: Watcher, deliverer: Deliverer | None) -> None:
    """Until SIGINT/SIGTERM: the first lets checks in progress finish and be
    stored, a second one stops at once (their domains are given back)."""
    stop = asyncio.Event()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    err_console.print(
        f"tlsrpt watch: {watcher.store.display_url}, every {_interval(watcher)}", markup=False
    )
    try:
        from tlsrpt.watch.wiring import run_schedule

        await run_schedule(watcher, deliverer, stop)
    except asyncio.CancelledError:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _interval(watcher: Watcher) -> str:
    from tlsrpt.analysis.durations import format_duration

    return format_duration(watcher.config.interval)
