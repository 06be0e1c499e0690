"""`tlsrpt demo [--db URL]`: fill a database with the generated demo dataset
(`tlsrpt.demo`) through the real ingest pipeline; with `--domains N`, a
hosting provider's data set of N domains (`tlsrpt.demo_provider`), written
in bulk with a progress bar. Refuses a database that already holds reports
unless --force, so demo data never mixes silently into real data."""

from __future__ import annotations

import argparse
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import UsageError, err_console, print_json_line, say

if TYPE_CHECKING:
    from tlsrpt.store.engine import Store

ADMIN = "admin@example.com"
CUSTOMER = "customer@example.net"  # sees shop.example.net only
MAX_DOMAINS = 100_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="fill a database with realistic generated reports",
        description=(
            "Generate reports from several senders for five domains over the last DAYS UTC "
            "days (one ready for MTA-STS enforce, others not) and import them; with "
            "--domains N, a hosting provider's N domains instead, written in bulk."
        ),
    )
    add_db_argument(p)
    p.add_argument("--days", type=int, default=60, help="days of reports (default 60)")
    p.add_argument(
        "--domains",
        type=int,
        metavar="N",
        help="a provider's data set: N generated customer domains (up to 100,000), in bulk",
    )
    p.add_argument(
        "--end", type=date.fromisoformat, metavar="YYYY-MM-DD", help="last day (default today)"
    )
    p.add_argument("--seed", type=int, default=8460, help="random seed (default 8460)")
    p.add_argument("--force", action="store_true", help="also into a database with reports")
    p.add_argument("--json", action="store_true", help="print the outcome counts as JSON")
    p.set_defaults(func=run)


def _may_fill(store: Store, days: int, force: bool) -> None:
    from tlsrpt.store.reads import has_reports

    if not 1 <= days <= 400:
        raise UsageError("--days must be between 1 and 400")
    with store.read() as conn:
        holds_reports = has_reports(conn)
    if holds_reports and not force:
        raise UsageError(
            f"{store.display_url} already holds reports: use a new database, or --force"
        )


def fill(store: Store, days: int, end: date | None, seed: int, force: bool) -> Counter[str]:
    from tlsrpt.demo import load_demo

    _may_fill(store, days, force)
    return Counter(result.outcome for result in load_demo(store, end, days, seed))


def fill_provider(store: Store, args: argparse.Namespace) -> int:
    """The provider data set, with a progress bar on stderr (not with --json)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from tlsrpt.demo_provider import load_provider

    if not 1 <= args.domains <= MAX_DOMAINS:
        raise UsageError(f"--domains must be between 1 and {MAX_DOMAINS:,}")
    _may_fill(store, args.days, args.force)
    end = args.end or datetime.now(UTC).date()
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, disable=args.json) as bar:
        task = bar.add_task("days written", total=args.days)

        def step(reports: int) -> None:
            bar.update(task, advance=1, description=f"days written ({reports:,} reports each)")

        return load_provider(store, args.domains, args.days, end, args.seed, step)


def run(args: argparse.Namespace) -> int:
    from tlsrpt.demo import DEMO_DOMAINS

    if args.domains is not None:
        with opened_store(args) as store:
            reports = fill_provider(store, args)
            where = store.display_url
        if args.json:
            print_json_line({"database": where, "domains": args.domains, "accepted": reports})
        else:
            say(f"{where}: {reports:,} generated reports for {args.domains:,} domains")
        return 0
    with opened_store(args) as store:
        counts = fill(store, args.days, args.end, args.seed, args.force)
        where = store.display_url
    if args.json:
        print_json_line({"database": where, "domains": list(DEMO_DOMAINS), **counts})
    else:
        say(
            f"{where}: {counts['accepted']} demo reports for {len(DEMO_DOMAINS)} domains "
            f"({counts['quarantined']} input quarantined on purpose)"
        )
    return 0


@dataclass(frozen=True, slots=True)
class DemoLogin:
    database: str
    admin_password: str
    customer_password: str

    def banner(self, url: str) -> str:
        return (
            f"tlsrpt demo: open {url} and log in as\n"
            f"  {ADMIN} / {self.admin_password}  (admin: every domain)\n"
            f"  {CUSTOMER} / {self.customer_password}  (customer: shop.example.net only)\n"
            f"database: {self.database}"
        )


def prepare_serve_demo(args: argparse.Namespace) -> DemoLogin:
    """For `tlsrpt serve --demo`: fill the database of `args.db` (which must
    hold no reports; `serve` makes a temporary one unless --db names one)
    with the demo data, an admin and a customer with random passwords."""
    from tlsrpt.store.users import add_domain, add_user

    admin_password, customer_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    with opened_store(args) as store:
        fill(store, 60, None, 8460, force=False)
        with store.write() as conn:
            add_user(conn, ADMIN, admin_password, admin=True)
            add_user(conn, CUSTOMER, customer_password, admin=False)
            add_domain(conn, "shop.example.net", CUSTOMER)
        return DemoLogin(store.display_url, admin_password, customer_password)
