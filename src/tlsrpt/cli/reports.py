"""`tlsrpt reports list|show ID`: the stored reports."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import orjson

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import Column, print_json_line, print_table, say
from tlsrpt.cli.summary import add_window_arguments, window_from_args

if TYPE_CHECKING:
    from tlsrpt.store.reads import StoredReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("reports", help="list and show stored reports")
    verbs = p.add_subparsers(dest="reports_command", metavar="COMMAND", required=True)

    ls = verbs.add_parser("list", help="stored reports, newest first")
    add_window_arguments(ls)
    ls.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    add_db_argument(ls)
    ls.add_argument("--json", action="store_true", help='print {"reports": [...]}')
    ls.set_defaults(func=run_list)

    show = verbs.add_parser("show", help="one stored report, every field")
    show.add_argument("id", type=int, metavar="ID", help="report number (from `reports list`)")
    add_db_argument(show)
    show.add_argument("--json", action="store_true", help="print the report and its metadata")
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    from tlsrpt.store.reads import list_reports

    with opened_store(args, read_only=True) as store, store.read() as conn:
        rows = list_reports(conn, window_from_args(args), max(args.limit, 0))
    if args.json:
        print_json_line({"reports": rows})
        return 0
    if not rows:
        say("no reports stored")
        return 0
    print_table(
        _LIST_COLUMNS,
        (
            (
                row["id"],
                row["day"].isoformat(),
                row["organization"],
                ", ".join(d or "(none)" for d in row["domains"]),
                row["successful_sessions"],
                row["failed_sessions"],
                row["report_id"],
            )
            for row in rows
        ),
    )
    return 0


_LIST_COLUMNS = (
    Column("id", numeric=True),
    Column("day"),
    Column("organization"),
    Column("policy domains"),
    Column("successful", numeric=True),
    Column("failed", numeric=True),
    Column("report-id"),
)


def _as_json(stored: StoredReport) -> dict[str, Any]:
    from tlsrpt.ingest.rows import report_from_rows
    from tlsrpt.report import report_to_dict

    r, raw = stored.report, stored.raw
    return {
        "id": r["id"],
        "day": r["day"],
        "received_at": r["received_at"],
        "submitter": r["submitter"],
        "header_domain": r["header_domain"],
        "domains": list(dict.fromkeys(p["domain"] for p in stored.policies)),
        "deviations": orjson.loads(r["deviations"]),
        "raw_input": {
            "id": raw["id"],
            "source_kind": raw["source_kind"],
            "source_detail": raw["source_detail"],
            "kind": raw["kind"],
            "sha256": raw["sha256"],
            "size": raw["size"],
        },
        "received_again": [
            {
                "raw_id": d["raw_id"],
                "conflict": d["conflict"],
                "source_kind": d["source_kind"],
                "source_detail": d["source_detail"],
                "received_at": d["received_at"],
            }
            for d in stored.duplicates
        ],
        "report": report_to_dict(report_from_rows(r, stored.policies, stored.failures)),
    }


def run_show(args: argparse.Namespace) -> int:
    from tlsrpt.store.reads import get_report

    with opened_store(args, read_only=True) as store, store.read() as conn:
        stored = get_report(conn, args.id)
    if stored is None:
        say(f"no report {args.id}", err=True)
        return 1
    data = _as_json(stored)
    if args.json:
        print_json_line(data)
        return 0
    r = data["report"]
    dr = r["date-range"]
    lines = [
        f"report {data['id']}: {r['organization-name']}  report-id {r['report-id']}",
        f"  date range {dr['start-datetime']} .. {dr['end-datetime']} (UTC day {data['day']})",
        f"  contact {r.get('contact-info') or '-'}",
        f"  from raw input {data['raw_input']['id']} ({data['raw_input']['source_kind']}: "
        f"{data['raw_input']['source_detail']}), received {data['received_at']:%Y-%m-%d %H:%M} UTC",
    ]
    if data["submitter"] or data["header_domain"]:
        lines.append(
            f"  TLS-Report-Submitter {data['submitter'] or '-'}, "
            f"TLS-Report-Domain {data['header_domain'] or '-'}"
        )
    for again in data["received_again"]:
        what = "CONFLICTING copy" if again["conflict"] else "received again"
        lines.append(
            f"  {what}: raw input {again['raw_id']} "
            f"({again['source_kind']}: {again['source_detail']})"
        )
    for line in lines:
        say(line)
    for policy, row in zip(r["policies"], stored.policies, strict=True):
        _print_policy(policy, row["domain"], row["attribution"])
    if data["deviations"]:
        say("deviations:")
        for dev in data["deviations"]:
            say(f"  {dev['code']} at {dev['path']}: {dev['message']}")
    return 0


def _print_policy(policy: dict[str, Any], attributed: str, how: str) -> None:
    p, s = policy["policy"], policy["summary"]
    domain = p.get("policy-domain") or f"(no policy-domain; counted for {attributed or '-'})"
    if p.get("policy-domain") and how != "reported":  # docs/conformance.md#attribution
        domain += f" (counted for {attributed}, from the {how})"
    say(
        f"policy {p['policy-type']} {domain}: "
        f"{s['total-successful-session-count']:,} successful, "
        f"{s['total-failure-session-count']:,} failed",
        style="bold",
    )
    for text in p.get("policy-string", []):
        say(f"  | {text}")
    if p.get("mx-host"):
        say(f"  mx-host: {', '.join(p['mx-host'])}")
    for d in policy.get("failure-details", []):
        line = f"  {d['failed-session-count']:,} x {d['result-type']}"
        if d.get("sending-mta-ip"):
            line += f" from {d['sending-mta-ip']}"
        if d.get("receiving-mx-hostname") or d.get("receiving-ip"):
            line += f" to {d.get('receiving-mx-hostname') or ''}"
            line += f" [{d['receiving-ip']}]" if d.get("receiving-ip") else ""
        for key in ("receiving-mx-helo", "failure-reason-code", "additional-information"):
            if d.get(key):
                line += f"; {key} {d[key]}"
        say(line)
