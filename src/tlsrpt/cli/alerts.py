"""`tlsrpt alerts list|ack|mute|unmute|mutes`: the alerts of the watched
domains, and what an operator does about them.

- `list [--all] [--domain D] [--json]`: firing alerts (with `--all` the
  resolved ones too), firing first; `{"alerts": [{"id", "domain", "rule",
  "severity", "state", "subject", "summary", "first_seen", "last_seen",
  "resolved_at", "acked_at"}]}`;
- `ack ID`: mark an alert as seen; it changes no notification;
- `mute DOMAIN RULE --for 7d`: hold the rule's notifications for the
  domain back (`-` as DOMAIN: the alerts not of one domain, such as
  quarantine-growing); `unmute DOMAIN RULE` ends it; `mutes` lists them.

Exit status: 0 done, 1 no such alert or mute, 2 usage or database error.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from tlsrpt.cli.alerts_outbox import register_outbox
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import Column, UsageError, print_json_line, print_table, say
from tlsrpt.domains import DomainError, normalize_domain

NO_DOMAIN_ARG = "-"


def _now() -> datetime:
    return datetime.now(UTC)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("alerts", help="alerts of the watched domains: list, ack, mute, outbox")
    verbs = p.add_subparsers(dest="alerts_command", metavar="COMMAND", required=True)

    ls = verbs.add_parser("list", help="firing alerts (--all: resolved ones too)")
    ls.add_argument("--all", action="store_true", help="resolved alerts too")
    ls.add_argument("--domain", metavar="D", help="the alerts of one domain")
    ls.add_argument("--limit", type=int, default=1000, metavar="N", help="at most N (default 1000)")
    add_db_argument(ls)
    ls.add_argument("--json", action="store_true", help='print {"alerts": [...]}')
    ls.set_defaults(func=run_list)

    ack = verbs.add_parser("ack", help="mark an alert as seen")
    ack.add_argument("id", type=int, metavar="ID", help="alert number (from `alerts list`)")
    ack.add_argument("--by", metavar="NAME", help="who acknowledges it (recorded)")
    add_db_argument(ack)
    ack.add_argument("--json", action="store_true", help="print the alert as JSON")
    ack.set_defaults(func=run_ack)

    mute = verbs.add_parser("mute", help="hold a rule's notifications for a domain back")
    _add_target(mute)
    mute.add_argument(
        "--for", dest="duration", required=True, metavar="DURATION", help="e.g. 12h, 7d, 2w"
    )
    add_db_argument(mute)
    mute.add_argument("--json", action="store_true", help="print the mute as JSON")
    mute.set_defaults(func=run_mute)

    unmute = verbs.add_parser("unmute", help="end a mute")
    _add_target(unmute)
    add_db_argument(unmute)
    unmute.add_argument("--json", action="store_true", help="print the result as JSON")
    unmute.set_defaults(func=run_unmute)

    mutes = verbs.add_parser("mutes", help="mutes in force")
    add_db_argument(mutes)
    mutes.add_argument("--json", action="store_true", help='print {"mutes": [...]}')
    mutes.set_defaults(func=run_mutes)

    register_outbox(verbs)


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("domain", metavar="DOMAIN", help="the domain (- for alerts of none)")
    parser.add_argument("rule", metavar="RULE", help="an alert rule or checker finding code")


def _target(args: argparse.Namespace) -> tuple[str, str]:
    from tlsrpt.analysis.alert_rules import RULES
    from tlsrpt.check.findings import CODES
    from tlsrpt.records import CODES as RECORD_CODES

    if args.rule not in RULES and args.rule not in CODES and args.rule not in RECORD_CODES:
        raise UsageError(
            f"no alert rule {args.rule!r} (the rules are in the README's Alerts section; "
            "checker finding codes are rules too)"
        )
    if args.domain == NO_DOMAIN_ARG:
        return "", args.rule
    try:
        return normalize_domain(args.domain, "ldh"), args.rule
    except DomainError:
        raise UsageError(f"{args.domain!r} is not a domain name") from None


def run_list(args: argparse.Namespace) -> int:
    from tlsrpt.store.alerts import AlertFilter, list_alerts

    domain = None if args.domain is None else normalize_domain(args.domain)
    selection = AlertFilter(include_resolved=args.all, domain=domain, limit=max(args.limit, 0))
    with opened_store(args) as store, store.read() as conn:
        rows = list_alerts(conn, selection)
    if args.json:
        print_json_line({"alerts": rows})
        return 0
    if not rows:
        say("no alerts" if args.all else "no alert is firing")
        return 0
    _print(rows)
    return 0


_COLUMNS = [
    Column("ID", numeric=True),
    Column("DOMAIN"),
    Column("RULE"),
    Column("SUBJECT"),
    Column("SEVERITY"),
    Column("STATE"),
    Column("SINCE"),
    Column("SUMMARY"),
]


def _print(rows: list[dict[str, Any]]) -> None:
    """A table (text from reports and DNS made terminal-safe by print_table)."""
    print_table(
        _COLUMNS,
        (
            (
                row["id"],
                row["domain"] or "(no domain)",
                row["rule"],
                row["subject"],
                row["severity"],
                row["state"] + (", acked" if row["acked_at"] else ""),
                row["first_seen"] if row["state"] == "firing" else row["resolved_at"],
                row["summary"],
            )
            for row in rows
        ),
    )


def run_ack(args: argparse.Namespace) -> int:
    from tlsrpt.store.alerts import ack

    with opened_store(args) as store, store.write() as conn:
        alert = ack(conn, args.id, args.by, _now())
    if alert is None:
        say(f"no alert {args.id}", err=True)
        return 1
    if args.json:
        print_json_line({"alert": alert})
    else:
        say(f"alert {alert['id']} acknowledged: ", alert["summary"])
    return 0


def run_mute(args: argparse.Namespace) -> int:
    from tlsrpt.analysis.durations import format_duration, parse_duration
    from tlsrpt.store.alerts import mute

    domain, rule = _target(args)
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise UsageError(f"--for: {exc}") from exc
    if not duration:
        raise UsageError("--for: a mute lasts longer than 0 (use `unmute` to end one)")
    now = _now()
    until = now + duration
    with opened_store(args) as store, store.write() as conn:
        mute(conn, domain, rule, until, now)
    shown_until = f"{until:%Y-%m-%dT%H:%M:%S}Z"
    if args.json:
        print_json_line({"domain": domain or None, "rule": rule, "until": shown_until})
    else:
        say(
            f"{rule} muted for {domain or 'alerts of no domain'} for "
            f"{format_duration(duration)}, until {shown_until}"
        )
    return 0


def run_unmute(args: argparse.Namespace) -> int:
    from tlsrpt.store.alerts import unmute

    domain, rule = _target(args)
    with opened_store(args) as store, store.write() as conn:
        removed = unmute(conn, domain, rule)
    where = domain or "alerts of no domain"
    if args.json:
        print_json_line({"domain": domain or None, "rule": rule, "unmuted": removed})
    elif removed:
        say(f"{rule} unmuted for {where}")
    else:
        say(f"{rule} is not muted for {where}", err=True)
    return 0 if removed else 1


def run_mutes(args: argparse.Namespace) -> int:
    from tlsrpt.store.alerts import list_mutes

    with opened_store(args) as store, store.read() as conn:
        rows = list_mutes(conn, _now())
    if args.json:
        print_json_line({"mutes": rows})
        return 0
    if not rows:
        say("no mutes")
        return 0
    print_table(
        [Column("DOMAIN"), Column("RULE"), Column("UNTIL"), Column("BY")],
        ((row["domain"] or "-", row["rule"], row["until"], row["created_by"]) for row in rows),
    )
    return 0
