"""`tlsrpt alerts outbox [--all] [--limit N] [--json]`: the notifications
waiting to be sent, being sent, failed (and with `--all`, delivered), with
attempts, the next attempt and the last error; and per channel the backlog.

Registered under `tlsrpt alerts` by `register_outbox(alerts_subparsers)`.
Exit status 1 when some notification failed for good, else 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import print_json_line, say


def register_outbox(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = verbs.add_parser(
        "outbox",
        help="alert notifications waiting, being sent or failed",
        description=(
            "Notifications of alert changes not delivered yet (pending, with the next "
            "attempt and the last error), being sent, or failed for good; with --all also "
            "delivered ones. Exit status 1 when some failed for good."
        ),
    )
    p.add_argument("--all", action="store_true", help="also delivered notifications")
    p.add_argument("--limit", type=_positive, default=100, metavar="N", help="at most N (100)")
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help='print {"outbox": [...], "channels": [...]}')
    p.set_defaults(func=run_outbox)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run_outbox(args: argparse.Namespace) -> int:
    from tlsrpt.store import outbox

    states = outbox.STATES if args.all else (outbox.PENDING, outbox.FAILED)
    now = dt.datetime.now(dt.UTC)
    with opened_store(args) as store, store.read() as conn:
        rows = [r.to_json(now) for r in outbox.list_rows(conn, states=states, limit=args.limit)]
        backlog = outbox.backlog(conn)
    channels = [
        {
            "channel": b.channel,
            "pending": b.pending,
            "failed": b.failed,
            "oldest_pending": b.oldest_pending.strftime("%Y-%m-%dT%H:%M:%SZ")
            if b.oldest_pending
            else None,
        }
        for b in backlog
    ]
    if args.json:
        print_json_line({"outbox": rows, "channels": channels})
    else:
        _print(rows, channels)
    return 1 if any(c["failed"] for c in channels) else 0


def _print(rows: list[dict[str, Any]], channels: list[dict[str, Any]]) -> None:
    # Remote text (a receiver's error, an alert's summary) is made
    # terminal-safe by say().
    if not rows:
        say("no notifications waiting or failed")
    for r in rows:
        to = r["channel"] + (f" -> {r['recipient']}" if r["recipient"] else "")
        when = {
            "delivered": f"delivered {r['delivered_at']}",
            "pending": f"next {r['due_at']}",
            "sending": f"since {r['last_attempt_at']}",
        }.get(r["state"], f"last {r['last_attempt_at']}")
        error = f": {r['last_error']}" if r["last_error"] else ""
        say(
            f"#{r['id']} {r['state']} {r['event']} {r['domain'] or '-'} {r['rule']} "
            f"to {to}, {r['attempts']} attempt(s), {when}{error}"
        )
    for c in channels:
        oldest = f", oldest since {c['oldest_pending']}" if c["oldest_pending"] else ""
        say(f"{c['channel']}: {c['pending']} pending, {c['failed']} failed{oldest}")
