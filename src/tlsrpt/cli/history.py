"""`tlsrpt history DOMAIN [--json] [--limit N]`: what the scheduled checks
(`tlsrpt watch`, `tlsrpt serve`) saw change on a domain, newest first.

Each state is a distinct snapshot of the domain's records, policy, MX
hosts, certificates and findings, with when it was first and last seen
and the changes from the state before it.

Exit status: 0, or 2 when the domain is neither registered nor watched.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.text import Text

from tlsrpt.cli.check import normalize_domain
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import UsageError, console, print_json_line
from tlsrpt.cli.watch_output import clean, counts_line, print_changes, when


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "history",
        help="the timeline of a watched domain's changes",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("domain", metavar="DOMAIN", help="a domain registered with `tlsrpt domain add`")
    p.add_argument(
        "--limit",
        type=_limit,
        default=20,
        metavar="N",
        help="the N latest states (default 20)",
    )
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="print the timeline as one JSON object")
    p.set_defaults(func=run)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"{text} is not between 1 and 10000")
    return value


def _schedule_json(row: Any) -> dict[str, Any] | None:
    from tlsrpt.watch.history import iso

    if row is None:
        return None
    return {
        "next_due": iso(row.next_due),
        "last_checked_at": iso(row.last_checked_at),
        "last_error": row.last_error,
        "interval_s": row.interval_s,
        "leased_until": iso(row.lease_until),
    }


def run(args: argparse.Namespace) -> int:
    from tlsrpt.store import watch as db
    from tlsrpt.watch.history import timeline
    from tlsrpt.watch.snapshot import severity_counts

    domain = normalize_domain(args.domain, "DOMAIN")
    with opened_store(args) as store, store.read() as conn:
        registered = db.is_registered(conn, domain)
        rows = db.states(conn, domain, args.limit + 1)
        schedule = db.schedule_row(conn, domain)
    if not registered and not rows:
        raise UsageError(f"{domain} is not registered (tlsrpt domain add) and was never checked")
    states = timeline(rows, args.limit)
    if args.json:
        print_json_line(
            {
                "domain": domain,
                "registered": registered,
                "schedule": _schedule_json(schedule),
                "timeline": [s.to_json() for s in states],
                "current": states[0].snapshot if states else None,
            }
        )
        return 0
    head = Text(clean(domain), style="bold")
    if schedule is not None:
        head.append(
            f": last checked {when(schedule.last_checked_at)}, next check {when(schedule.next_due)}"
        )
    if not registered:
        head.append(" (no longer registered)")
    console.print(head)
    if schedule is not None and schedule.last_error:
        console.print(Text(f"  last check failed: {clean(schedule.last_error)}", style="red"))
    if not states:
        console.print("  not checked yet", markup=False)
    for state in states:
        seen = f"seen {state.checks} time{'s' if state.checks != 1 else ''}"
        if state.last_seen != state.since:
            seen += f", last {when(state.last_seen)}"
        note = f"first check, {seen}" if state.first else seen
        line = Text(f"{when(state.since)}  ")
        line.append_text(counts_line(severity_counts(state.snapshot), f"({note})"))
        console.print(line)
        print_changes(console, state.changes)
    return 0
