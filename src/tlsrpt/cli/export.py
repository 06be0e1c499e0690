"""`tlsrpt export domains|daily|failures|reports`: the API's tables as CSV
(formula-safe, `tlsrpt.export`) or JSON, on stdout or into a file. The CLI
has the database itself, so it sees every domain, as an admin does.

Both formats are data for programs: values are kept exactly as stored
(JSON writes control and invisible characters as `\\u` escapes, CSV quotes
them), only CSV cells a spreadsheet would run as a formula get a leading
apostrophe. CSV written straight to a terminal is the exception: there it
is read by a person, and shows those characters escaped (`safe_text`)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import UsageError, json_bytes, safe_text

TABLES = ("domains", "daily", "failures", "reports")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="export domains, daily series, failures or reports as CSV or JSON",
        description=(
            "Write one table as CSV (cells a spreadsheet would run as a formula are "
            'prefixed with \') or JSON ({"rows": [...]}).'
        ),
    )
    p.add_argument("table", choices=TABLES, help="what to export")
    p.add_argument("--domain", help="policy domain (needed for daily and failures)")
    p.add_argument("--days", type=int, default=30, help="period length in UTC days (default 30)")
    p.add_argument(
        "--until", type=date.fromisoformat, metavar="YYYY-MM-DD", help="last day (default today)"
    )
    p.add_argument("--limit", type=int, default=100_000, help="at most N rows (failures, reports)")
    p.add_argument("--format", choices=["csv", "json"], help="default csv")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here, not stdout")
    add_db_argument(p)
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} contradict each other")
    return "json" if args.json else args.format or "csv"


def run(args: argparse.Namespace) -> int:
    from tlsrpt.export import to_csv
    from tlsrpt.shape import (
        DAILY_COLUMNS,
        DOMAIN_COLUMNS,
        daily_rows,
        domain_item,
        domain_row,
    )
    from tlsrpt.store import reads
    from tlsrpt.store.users import User

    fmt = _format(args)
    if not 1 <= args.days <= reads.MAX_DAYS:
        raise UsageError(f"--days must be between 1 and {reads.MAX_DAYS}")
    if args.table in ("daily", "failures") and not args.domain:
        raise UsageError(f"exporting {args.table} needs --domain")
    everything = User(id=0, email="(command line)", is_admin=True)
    period = reads.period_of(args.days, args.until)
    with opened_store(args, read_only=True) as store, store.read() as conn:
        if args.domain and not reads.is_visible(conn, everything, args.domain):
            raise UsageError(f"no reports or registration for domain {args.domain}")
        if args.table == "domains":
            # CSV: the readiness verdict; JSON: the readiness object, as the API.
            shape = domain_row if fmt == "csv" else domain_item
            rows = [shape(o) for o in reads.overview(conn, everything, period)]
            columns: tuple[str, ...] = DOMAIN_COLUMNS
        elif args.table == "daily":
            detail = reads.domain_detail(conn, everything, args.domain, period)
            assert detail is not None
            rows, columns = daily_rows(detail.analysis), DAILY_COLUMNS
        elif args.table == "failures":
            rows = reads.failure_list(conn, args.domain, period, args.limit)
            columns = reads.FAILURE_COLUMNS
        else:
            rows = reads.report_list(conn, everything, args.domain, period, args.limit)
            columns = (*reads.REPORT_COLUMNS, "domains")
    if fmt == "json":
        data = json_bytes({"rows": rows}) + b"\n"  # escapes what a terminal would act on
    elif args.output is None and sys.stdout.isatty():
        # Read by a person: shown like every other output (`safe_text`).
        data = "\r\n".join(safe_text(line) for line in to_csv(rows, columns).split("\r\n")).encode()
    else:
        data = to_csv(rows, columns).encode()
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror}") from exc
    return 0
