"""`tlsrpt prune [--older-than DAYS] [--dry-run] [--json]`: remove reports
and raw inputs older than DAYS (default: the setting `retention_days`),
and, each after its own setting, quarantined inputs, watch snapshots,
resolved alerts and delivered notifications. The daily roll-ups stay, so
the dashboard's totals, trends and verdicts do not change; a report sent
again after its rows were removed is still recognised as a duplicate.

Removal runs in short transactions: receivers and `tlsrpt serve` keep
working meanwhile. `--dry-run` counts what would go and changes nothing.

Exit status: 0 done, 2 usage or environment error (no limit given or set,
database trouble).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import UsageError, print_json_line, say


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} days: at least 1")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "prune",
        help="remove reports and raw inputs older than the retention limit",
        description=(
            "Remove reports and raw inputs older than DAYS (default: the setting "
            "retention_days) and, each after its own setting, quarantined inputs, watch "
            "snapshots, resolved alerts and delivered notifications, in short transactions. "
            "The daily roll-ups stay: totals, trends and verdicts do not change, and a report "
            "sent again later is still a duplicate."
        ),
    )
    p.add_argument(
        "--older-than",
        type=_days,
        metavar="DAYS",
        help="keep today (UTC) and the DAYS days before it (default: retention_days)",
    )
    p.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file (retention_*)")
    add_db_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tlsrpt.retention import cutoffs, describe
    from tlsrpt.settings import SettingsError, load_settings
    from tlsrpt.store.retention import prune

    try:
        settings = load_settings(args.config, {"database_url": args.db})
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc
    limits = cutoffs(settings, datetime.now(UTC), args.older_than)
    if limits is None or limits.reports is None:
        raise UsageError("no limit: give --older-than DAYS or set retention_days")
    args.db = settings.database_url
    # A dry run changes nothing: it neither creates nor migrates a database.
    with opened_store(args, read_only=args.dry_run) as store:
        removed = prune(store, limits, dry_run=args.dry_run)
    if args.json:
        print_json_line(
            {
                "cutoff": limits.reports,
                "dry_run": args.dry_run,
                "removed": removed,
                "cutoffs": {
                    "reports": limits.reports,
                    "quarantine": limits.quarantine,
                    "snapshots": limits.snapshots,
                    "alerts": limits.alerts,
                    "outbox": limits.outbox,
                },
            }
        )
        return 0
    verb = "would remove" if args.dry_run else "removed"
    say(f"{verb} {describe(removed)}")
    say(f"reports of days before {limits.reports.date().isoformat()} (UTC); the roll-ups stay")
    return 0
