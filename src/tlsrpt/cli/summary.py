"""`tlsrpt summary [--domain D] [--since DAY] [--until DAY] [--json]`:
sessions and failures per policy domain over the stored reports."""

from __future__ import annotations

import argparse
from datetime import date

from tlsrpt.analysis.summary import DomainSummary, summarize
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import Column, print_json_line, print_table, say
from tlsrpt.store.window import Window


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", metavar="D", help="only this policy domain")
    parser.add_argument(
        "--since", type=_day, metavar="YYYY-MM-DD", help="from this UTC day (inclusive)"
    )
    parser.add_argument(
        "--until", type=_day, metavar="YYYY-MM-DD", help="up to this UTC day (inclusive)"
    )


def window_from_args(args: argparse.Namespace) -> Window:
    domain = args.domain.strip().rstrip(".").lower() if args.domain else None
    return Window(domain=domain, since=args.since, until=args.until)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "summary",
        help="sessions and failures per policy domain",
        description=(
            "Per policy domain: reports, reporting organizations, successful and failed "
            "sessions, failure rate, failed sessions by result type, top failing MX hosts "
            "and sending IPs. Days are UTC days of the report's date range."
        ),
    )
    add_window_arguments(p)
    p.add_argument("--top", type=int, default=5, metavar="N", help="MX hosts and IPs to list")
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help='print {"domains": [...]}')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tlsrpt.store.reads import summary_rows

    window = window_from_args(args)
    with opened_store(args, read_only=True) as store, store.read() as conn:
        rows = summary_rows(conn, window)
    domains = summarize(
        rows.totals, rows.by_result, rows.mx_hosts, rows.sending_ips, top=max(args.top, 0)
    )
    if args.json:
        print_json_line({"domains": [d.as_dict() for d in domains]})
    elif not domains:
        say("no reports stored" + (" for this selection" if _filtered(window) else ""))
    else:
        _table(domains)
        for d in domains:
            _details(d)
    return 0


def _filtered(window: Window) -> bool:
    return any(v is not None for v in (window.domain, window.since, window.until))


def _rate(summary: DomainSummary) -> str:
    rate = summary.failure_rate
    return "-" if rate is None else f"{rate:.2%}"


_COLUMNS = (
    Column("domain"),
    Column("reports", numeric=True),
    Column("orgs", numeric=True),
    Column("successful", numeric=True),
    Column("failed", numeric=True),
    Column("failure rate", numeric=True),
)


def _table(domains: list[DomainSummary]) -> None:
    print_table(
        _COLUMNS,
        (
            (
                d.domain or "(no policy domain)",
                d.reports,
                d.organizations,
                d.successful_sessions,
                d.failed_sessions,
                _rate(d),
            )
            for d in domains
        ),
        title="TLS-RPT summary by policy domain",
    )


def _details(d: DomainSummary) -> None:
    if not (d.failures_by_result_type or d.top_mx_hosts or d.top_sending_ips):
        return
    say("")
    say(d.domain or "(no policy domain)", style="bold")
    for title, pairs in (
        ("failed sessions by result type", list(d.failures_by_result_type.items())),
        ("top failing MX hosts", d.top_mx_hosts),
        ("top failing sending IPs", d.top_sending_ips),
    ):
        if pairs:
            say(f"  {title}: " + ", ".join(f"{name} {count:,}" for name, count in pairs))
