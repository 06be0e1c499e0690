"""`tlsrpt export domains|daily|failures|reports`: the API's tables as CSV
(formula-safe, `tlsrpt.export`) or JSON, on stdout or into a file. The CLI
has the database itself, so it sees every domain, as an admin does."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import UsageError

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
    p.add_argument("--format", choices=["csv", "json"], default="csv", help="default csv")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here, not stdout")
    add_db_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tlsrpt.export import to_csv, to_json
    from tlsrpt.store.users import User
    from tlsrpt.web.api import reads
    from tlsrpt.web.api.serialize import (
        DAILY_COLUMNS,
        DOMAIN_COLUMNS,
        daily_rows,
        domain_item,
        domain_row,
    )

    if not 1 <= args.days <= reads.MAX_DAYS:
        raise UsageError(f"--days must be between 1 and {reads.MAX_DAYS}")
    if args.table in ("daily", "failures") and not args.domain:
        raise UsageError(f"exporting {args.table} needs --domain")
    everything = User(id=0, email="(command line)", is_admin=True)
    period = reads.period_of(args.days, args.until)
    with opened_store(args) as store, store.read() as conn:
        if args.domain and not reads.is_visible(conn, everything, args.domain):
            raise UsageError(f"no reports or registration for domain {args.domain}")
        if args.table == "domains":
            # CSV: the readiness verdict; JSON: the readiness object, as the API.
            shape = domain_row if args.format == "csv" else domain_item
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
    data = to_csv(rows, columns).encode() if args.format == "csv" else to_json(rows) + b"\n"
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror}") from exc
    return 0
