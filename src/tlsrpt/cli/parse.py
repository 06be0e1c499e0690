"""`tlsrpt parse FILE... [--strict] [--json]`: validate reports without storing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape

from tlsrpt.cli.output import console, print_json_line
from tlsrpt.report import (
    DEFAULT_LIMITS,
    ParsedInput,
    ParsedReport,
    ReportError,
    parse_input,
    report_to_dict,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "parse",
        help="validate TLS-RPT reports (.json, .json.gz, .eml, - for stdin) without storing",
        description="Parse RFC 8460 reports and list what each sender got wrong.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="report file, e-mail, or - for stdin")
    p.add_argument("--strict", action="store_true", help="reject anything RFC 8460 forbids")
    p.add_argument("--json", action="store_true", help="one JSON object per input per line")
    p.add_argument("-v", "--verbose", action="store_true", help="list every deviation")
    p.set_defaults(func=run)


def _read(name: str) -> bytes:
    limit = max(DEFAULT_LIMITS.max_message_bytes, DEFAULT_LIMITS.max_input_bytes) + 1
    if name == "-":
        return sys.stdin.buffer.read(limit)
    with Path(name).open("rb") as handle:
        return handle.read(limit)


def _report_json(parsed: ParsedReport) -> dict[str, Any]:
    return {
        "report": report_to_dict(parsed.report),
        "deviations": [
            {"code": d.code, "path": d.path, "message": d.message, "violation": d.violation}
            for d in parsed.deviations
        ],
    }


def _as_json(name: str, result: ParsedInput) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input": name,
        "kind": result.kind,
        "reports": [_report_json(r) for r in result.reports],
        "errors": [e.as_dict() for e in result.errors],
        "deviations": [
            {"code": d.code, "path": d.path, "message": d.message, "violation": d.violation}
            for d in result.deviations
            if result.kind == "email"
        ],
    }
    if result.mail is not None:
        meta = result.mail.meta
        out["mail"] = {
            "tls_report_domain": meta.tls_report_domain,
            "tls_report_submitter": meta.tls_report_submitter,
            "subject": meta.subject,
            "message_id": meta.message_id,
        }
    return out


def _human_line(name: str, parsed: ParsedReport, extra_devs: int) -> str:
    r = parsed.report
    domains = ", ".join(r.policy_domains) or "(no policy-domain)"
    start = r.date_range.start_datetime.strftime("%Y-%m-%d %H:%M")
    end = r.date_range.end_datetime.strftime("%Y-%m-%d %H:%M")
    ndev = len(parsed.deviations) + extra_devs
    dev_text = f"[yellow]{ndev} deviations[/]" if ndev else "[green]0 deviations[/]"
    return (
        f"[bold]{escape(name)}[/]: {escape(r.organization_name)} | {escape(domains)} | "
        f"{start} → {end} UTC | [green]{r.successful_sessions} ok[/] "
        f"[red]{r.failed_sessions} failed[/] | {dev_text}"
    )


def run(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        try:
            data = _read(name)
            result = parse_input(data, strict=args.strict)
        except OSError as exc:
            status = 1
            _show_error(args, name, ReportError("unreadable", exc.strerror or str(exc), "file"))
            continue
        except ReportError as exc:
            status = 1
            _show_error(args, name, exc)
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
                    code, path, message = escape(dev.code), escape(dev.path), escape(dev.message)
                    console.print(f"    [yellow]{code}[/] {path}: {message}")
        for error in result.errors:
            console.print(f"[bold]{escape(name)}[/]: [red]rejected[/] {escape(str(error))}")
    return status


def _show_error(args: argparse.Namespace, name: str, error: ReportError) -> None:
    if args.json:
        print_json_line({"input": name, "error": error.as_dict()})
    else:
        console.print(f"[bold]{escape(name)}[/]: [red]rejected[/] {escape(str(error))}")
