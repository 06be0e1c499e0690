"""`tlsrpt summary [--domain D] [--since DAY] [--until DAY] [--json]`:
sessions and failures per policy domain over the stored reports, and each
domain's MTA-STS enforce readiness as of `--until` (default today, UTC):
the verdict does not depend on `--since`."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from tlsrpt.analysis.readiness import Readiness
from tlsrpt.analysis.summary import DomainSummary, summarize
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import Column, print_json_line, print_table, say
from tlsrpt.domains import normalize_domain
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
    domain = normalize_domain(args.domain) if args.domain else None
    return Window(domain=domain, since=args.since, until=args.until)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "summary",
        help="sessions and failures per policy domain",
        description=(
            "Per policy domain: reports, reporting organizations, successful and failed "
            "sessions, failure rate, failed sessions by result type, top failing MX hosts "
            "and sending IPs, and the MTA-STS enforce readiness verdict as of --until "
            "(default today). Days are UTC days of the report's date range."
        ),
    )
    add_window_arguments(p)
    p.add_argument("--top", type=int, default=5, metavar="N", help="MX hosts and IPs to list")
    add_db_argument(p)
    p.add_argument(
        "--json", action="store_true", help='print {"domains": [{..., "readiness": {...}}]}'
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tlsrpt.store.reads import readiness, summary_rows

    window = window_from_args(args)
    as_of = window.until or datetime.now(UTC).date()
    with opened_store(args, read_only=True) as store, store.read() as conn:
        rows = summary_rows(conn, window)
        domains = summarize(
            rows.totals, rows.by_result, rows.mx_hosts, rows.sending_ips, top=max(args.top, 0)
        )
        verdicts = readiness(conn, [d.domain for d in domains if d.domain], as_of)
    if args.json:
        print_json_line({"domains": [_json(d, verdicts) for d in domains]})
    elif not domains:
        say("no reports stored" + (" for this selection" if _filtered(window) else ""))
    else:
        _table(domains, verdicts)
        for d in domains:
            _details(d, verdicts.get(d.domain or ""))
    return 0


def _json(d: DomainSummary, verdicts: dict[str, Readiness]) -> dict[str, Any]:
    """The summary of a domain with its readiness object (as in the API);
    `null` for reports without a policy domain."""
    found = verdicts.get(d.domain or "")
    return {**d.as_dict(), "readiness": found.as_dict() if found else None}


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
    Column("verdict"),
)


def _table(domains: list[DomainSummary], verdicts: dict[str, Readiness]) -> None:
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
                str(verdicts[d.domain].verdict) if d.domain in verdicts else None,
            )
            for d in domains
        ),
        title="TLS-RPT summary by policy domain",
    )


def _readiness_line(r: Readiness) -> str:
    """The verdict with its first problem, or where its clean stretch starts."""
    if r.headline is not None:
        return f"  MTA-STS enforce: {r.verdict}: {r.headline.text}"
    since = f", clean since {r.clean_since}" if r.clean_since else ""
    return f"  MTA-STS enforce: {r.verdict}{since}"


def _details(d: DomainSummary, verdict: Readiness | None) -> None:
    if not (d.failures_by_result_type or d.top_mx_hosts or d.top_sending_ips or verdict):
        return
    say("")
    say(d.domain or "(no policy domain)", style="bold")
    if verdict is not None:
        say(_readiness_line(verdict))
    for title, pairs in (
        ("failed sessions by result type", list(d.failures_by_result_type.items())),
        ("top failing MX hosts", d.top_mx_hosts),
        ("top failing sending IPs", d.top_sending_ips),
    ):
        if pairs:
            say(f"  {title}: " + ", ".join(f"{name} {count:,}" for name, count in pairs))
