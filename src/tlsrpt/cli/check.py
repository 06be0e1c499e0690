"""`tlsrpt check`: check domains' TLS-RPT, MTA-STS, MX TLS and DANE.

For each domain: the `_smtp._tls` record and its rua destinations, the
`_mta-sts` record, the policy fetched as RFC 8461 §3.3 says, MX coverage,
a STARTTLS probe of every address of every MX (certificate chain, name,
expiry, TLS version) and the TLSA records of each MX matched against the
served chain. Every finding has a stable code, a severity by delivery
impact, the evidence and, for records and policies, the text to publish.

By default the checker connects only to globally reachable addresses: the
blocks of the IANA special-purpose registries (private, loopback,
link-local, documentation, ...), IPv6 outside 2000::/3 (e.g. site-local
fec0::/10), multicast and cloud-metadata addresses are refused, after DNS
resolution on every connection; --allow-private-addresses lifts that.

Exit status: 0 when no finding is an error, 1 otherwise, 2 on usage errors
and when no resolver answers (then nothing is reported against the domains).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from tlsrpt.check import (
    Checker,
    CheckOptions,
    DomainReport,
    ResolverUnavailable,
    Severity,
    Trust,
    parse_nameserver,
)
from tlsrpt.cli.output import UsageError, console, err_console, print_json_line, safe_text
from tlsrpt.domains import DomainError
from tlsrpt.domains import normalize_domain as domain_name

_T = TypeVar("_T")
_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check domains: TLS-RPT, MTA-STS, MX TLS and DANE",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("domains", nargs="*", metavar="DOMAIN", help="domains to check")
    parser.add_argument(
        "--file",
        "-f",
        action="append",
        default=[],
        metavar="FILE",
        help="read domains from FILE, one per line ('#' comments; - for stdin)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per domain per line as results complete",
    )
    add_checker_arguments(parser)
    parser.set_defaults(func=run)


def add_checker_arguments(
    parser: argparse.ArgumentParser, defaults: Mapping[str, str] | None = None
) -> None:
    """The checker's options (`options_from` reads them), shared by `tlsrpt
    check` and `tlsrpt watch`. `defaults`: per option (its dest), what its
    help says about its default, for a command that takes the defaults from
    elsewhere (`tlsrpt watch`: from the settings)."""

    def default(name: str, value: str) -> str:
        return (defaults or {}).get(name, f"default: {value}")

    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=20,
        metavar="N",
        help=f"domains checked at the same time ({default('concurrency', '20')})",
    )
    parser.add_argument(
        "--nameserver",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="resolver to use: an IP address, with a port as 127.0.0.1:5353 or "
        "[::1]:5353 (a bare ::1 is port 53); repeatable; "
        + default("nameserver", "the system's")
        + ". DANE needs a validating resolver",
    )
    parser.add_argument(
        "--ca-file",
        metavar="PEM",
        help=f"extra trust anchors, added to the system store ({default('ca_file', 'none')})",
    )
    parser.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="connect to private, loopback and other non-public addresses (test labs; "
        f"{default('allow_private_addresses', 'off')})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="timeout of one lookup, connection or exchange (default: 10)",
    )
    parser.add_argument(
        "--budget",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="time budget of one domain, everything included (default: 60)",
    )
    parser.add_argument(
        "--no-mx-probe",
        action="store_true",
        help="do not connect to the MX hosts (DNS and policy checks only)",
    )
    parser.add_argument(
        "--smtp-port",
        type=_port,
        default=25,
        metavar="N",
        help=f"SMTP port of the MX probe ({default('smtp_port', '25')}; for test labs)",
    )
    parser.add_argument(
        "--https-port",
        type=_port,
        default=443,
        metavar="N",
        help=f"HTTPS port of the policy and rua hosts ({default('https_port', '443')}; test labs)",
    )
    parser.add_argument(
        "--expiry-warning-days",
        type=_positive_int,
        default=14,
        metavar="N",
        help="report MX certificates expiring within N days "
        f"({default('expiry_warning_days', '14')})",
    )
    parser.add_argument(
        "--helo", metavar="NAME", help="EHLO name of the probe (default: this host's name)"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (1-65535)")
    return value


def normalize_domain(text: str, where: str) -> str:
    """A-label, lower-case, no final dot (RFC 8460 §3: IDNs are queried as A-labels)."""
    try:
        return domain_name(text, "idna")
    except DomainError as exc:
        raise UsageError(f"{where}: {text.strip()!r} {exc}") from None


def read_domains(args: argparse.Namespace) -> list[str]:
    found: list[str] = []
    for index, text in enumerate(args.domains, 1):
        found.append(normalize_domain(text, f"argument {index}"))
    for path in args.file:
        try:
            content = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"cannot read {path}: {reason}") from None
        for number, line in enumerate(content.splitlines(), 1):
            text = line.split("#", 1)[0].strip()
            if text:
                found.append(normalize_domain(text, f"{path}:{number}"))
    if not found:
        raise UsageError("no domain to check: give DOMAIN arguments or --file FILE")
    return list(dict.fromkeys(found))


def options_from(args: argparse.Namespace) -> CheckOptions:
    for spec in args.nameserver:
        try:
            parse_nameserver(spec)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    extra = {"helo": args.helo} if args.helo else {}
    return CheckOptions(
        nameservers=tuple(args.nameserver),
        timeout=args.timeout,
        budget=args.budget,
        concurrency=args.concurrency,
        allow_private=args.allow_private_addresses,
        probe_mx=not args.no_mx_probe,
        smtp_port=args.smtp_port,
        https_port=args.https_port,
        ca_file=args.ca_file,
        expiry_warning_days=args.expiry_warning_days,
        **extra,
    )


def run(args: argparse.Namespace) -> int:
    domains = read_domains(args)
    options = options_from(args)
    trust = load_trust(options.ca_file)
    try:
        checker = Checker(options, trust)
    except ValueError as exc:  # no usable resolver configuration
        raise UsageError(str(exc)) from None
    # asyncio logs harmless TLS shutdown notices that are not the user's business.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    return event_loop_runner()(_check(checker, domains, args.json))


def load_trust(ca_file: str | None) -> Trust:
    """The run's trust store; an unusable --ca-file is a usage error."""
    try:
        return Trust.load(ca_file)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"--ca-file {ca_file}: {reason}") from None


def event_loop_runner() -> Callable[[Coroutine[Any, Any, _T]], _T]:
    """uvloop where it is installed (a dependency except on Windows): the
    checker is CPU-bound in the event loop at bulk concurrency."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


async def _check(checker: Checker, domains: list[str], as_json: bool) -> int:
    try:
        await checker.check_resolver()
    except ResolverUnavailable as exc:
        # An environment error: every domain would get the same DNS findings.
        await checker.aclose()
        if as_json:
            print_json_line({"error": exc.to_json()})
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    out = err_console if as_json else console
    progress = None
    if out.is_terminal and len(domains) > 1:
        progress = Progress(
            TextColumn("checking"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        task = progress.add_task("check", total=len(domains))
        progress.start()
    errors = warnings = 0
    try:
        async for report in checker.run(domains):
            errors += report.has_error
            warnings += (not report.has_error) and report.count(Severity.WARNING) > 0
            if as_json:
                print_json_line(report.to_json())
            else:
                print_report(report, progress.console if progress else console)
            if progress:
                progress.advance(task)
    finally:
        if progress:
            progress.stop()
    if not as_json and len(domains) > 1:
        console.print(
            f"{len(domains)} domains checked: {errors} with errors, {warnings} with warnings only",
            highlight=False,
        )
    return 1 if errors else 0


def print_report(report: DomainReport, out: Console) -> None:
    head = Text(safe_text(report.domain), style="bold")
    if not report.findings:
        head.append("  no findings", style="green")
    else:
        counts = [
            f"{n} {s.value}{'s' if n > 1 else ''}" for s in Severity if (n := report.count(s))
        ]
        head.append("  " + ", ".join(counts))
    if not report.complete:
        head.append("  (incomplete: time budget exhausted)", style="yellow")
    out.print(head)
    for finding in report.findings:
        line = Text("  ")
        line.append(f"{finding.severity.value.upper():7}", style=_STYLE[finding.severity])
        line.append(f" {finding.code}", style="bold")
        line.append("\n      " + _safe_lines(finding.message, "\n      "))
        out.print(line)
        if finding.fix:
            fix = Text("      fix: ", style="green")
            fix.append(_safe_lines(finding.fix, "\n           "))
            out.print(fix)


def _safe_lines(text: str, joiner: str) -> str:
    """Findings quote DNS records, policies and server replies: each line
    terminal-safe (`safe_text`), the line breaks kept and indented."""
    return joiner.join(safe_text(line) for line in text.split("\n"))
