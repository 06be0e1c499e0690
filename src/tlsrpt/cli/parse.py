"""`tlsrpt parse FILE... [--strict] [--json]`: validate reports without storing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.text import Text

from tlsrpt.cli.output import console, print_json_line, safe_line, say
from tlsrpt.report import (
    DEFAULT_LIMITS,
    Deviation,
    ParsedInput,
    ParsedReport,
    ReportError,
    parse_input,
    report_to_dict,
    sniff,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "parse",
        help="validate TLS-RPT reports (.json, .json.gz, .eml, - for stdin) without storing",
        description="Parse RFC 8460 reports and list what each sender got wrong.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="report file, e-mail, or - for stdin")
    p.add_argument("--strict", action="store_true", help="reject anything RFC 8460 forbids")
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per input per line: {"input", "ok", "kind", "reports", '
        '"deviations", "errors", "mail"}',
    )
    p.add_argument("-v", "--verbose", action="store_true", help="list every deviation")
    p.set_defaults(func=run)


def _read(name: str) -> bytes:
    limit = max(DEFAULT_LIMITS.max_message_bytes, DEFAULT_LIMITS.max_input_bytes) + 1
    if name == "-":
        return sys.stdin.buffer.read(limit)
    with Path(name).open("rb") as handle:
        return handle.read(limit)


def _deviation_json(dev: Deviation) -> dict[str, Any]:
    return {"code": dev.code, "path": dev.path, "message": dev.message, "violation": dev.violation}


def _report_json(parsed: ParsedReport) -> dict[str, Any]:
    return {
        "report": report_to_dict(parsed.report),
        "deviations": [_deviation_json(d) for d in parsed.deviations],
    }


def _as_json(name: str, result: ParsedInput) -> dict[str, Any]:
    """One object per input, with the same keys whether it parsed or not
    (`_failed_json`): `ok` (no error), `kind` (json, gzip, email), `reports`
    (each with its deviations), `deviations` (of the e-mail around them),
    `errors` and `mail` (the e-mail's report headers, else null)."""
    mail = result.mail.meta if result.mail is not None else None
    return {
        "input": name,
        "ok": not result.errors,
        "kind": result.kind,
        "reports": [_report_json(r) for r in result.reports],
        "deviations": [_deviation_json(d) for d in result.deviations]
        if result.kind == "email"
        else [],
        "errors": [e.as_dict() for e in result.errors],
        "mail": None
        if mail is None
        else {
            "tls_report_domain": mail.tls_report_domain,
            "tls_report_submitter": mail.tls_report_submitter,
            "subject": mail.subject,
            "message_id": mail.message_id,
        },
    }


def _failed_json(name: str, error: ReportError, kind: str | None) -> dict[str, Any]:
    """An input that held no report (`kind` null when it could not be read)."""
    return {
        "input": name,
        "ok": False,
        "kind": kind,
        "reports": [],
        "deviations": [],
        "errors": [error.as_dict()],
        "mail": None,
    }


def _human_line(name: str, parsed: ParsedReport, extra_devs: int) -> Text:
    r = parsed.report
    domains = ", ".join(r.policy_domains) or "(no policy-domain)"
    start = r.date_range.start_datetime.strftime("%Y-%m-%d %H:%M")
    end = r.date_range.end_datetime.strftime("%Y-%m-%d %H:%M")
    ndev = len(parsed.deviations) + extra_devs
    return safe_line(
        (name, "bold"),
        f": {r.organization_name} | {domains} | {start} → {end} UTC | ",
        (f"{r.successful_sessions} ok", "green"),
        " ",
        (f"{r.failed_sessions} failed", "red"),
        " | ",
        (f"{ndev} deviations", "yellow" if ndev else "green"),
    )


def run(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        data: bytes | None = None
        try:
            data = _read(name)
            result = parse_input(data, strict=args.strict)
        except OSError as exc:
            status = 1
            _show_error(args, name, ReportError("unreadable", exc.strerror or str(exc), "file"))
            continue
        except ReportError as exc:
            status = 1
            _show_error(args, name, exc, sniff(data) if data else None)
            continue
        if result.errors:
            status = 1
        if args.json:
            print_json_line(_as_json(name, result))
            continue
        mail_devs = len(result.deviations) if result.kind == "email" else 0
        for parsed in result.reports:
            console.print(_human_line(name, parsed, mail_devs))
            if args.verbose:
                for dev in [*parsed.deviations, *(result.deviations if mail_devs else [])]:
                    say("    ", (dev.code, "yellow"), f" {dev.path}: {dev.message}")
        for error in result.errors:
            _rejected(name, error)
    return status


def _rejected(name: str, error: ReportError) -> None:
    say((name, "bold"), ": ", ("rejected", "red"), f" {error}")


def _show_error(
    args: argparse.Namespace, name: str, error: ReportError, kind: str | None = None
) -> None:
    if args.json:
        print_json_line(_failed_json(name, error, kind))
    else:
        _rejected(name, error)
