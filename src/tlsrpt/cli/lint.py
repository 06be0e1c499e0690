"""`tlsrpt lint`: check a `_smtp._tls` record, an `_mta-sts` record or an
`mta-sts.txt` policy and list the problems with their stable codes.

Input is TEXT, `@FILE` or `@-` (stdin). For the two TXT records each
non-blank line of a file is one TXT RR of the same name; lines starting with
';' (dig comments) are skipped. A line may be the bare value, quoted
character-strings as `dig +short` prints them (`"v=TLSRPTv1;rua=…" "…"`), or
a dig answer line (`_smtp._tls.example.com. 300 IN TXT "…"`), whose owner
name then supplies the policy domain. One RR is checked as the record; several
RRs go through the RFC selection rule (exactly one must begin with the
version). A policy file is read as bytes, so line ends and encoding are
checked as a sender sees them. Each run also lists which real implementations
(postfix-mta-sts-resolver, mox, maddy, checkdmarc, mimecast's library) accept,
reject or read the input differently: anything a sender rejects is an error.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.txtbase

from tlsrpt.cli.lint_senders import print_senders, with_senders
from tlsrpt.cli.output import UsageError, print_json_line, say
from tlsrpt.records import (
    Parsed,
    Problem,
    Selected,
    StsPolicy,
    StsRecord,
    TlsRptRecord,
    TxtRR,
    check_tlsrpt_name,
    parse_sts_policy,
    parse_sts_record,
    parse_tlsrpt_record,
    select_sts_record,
    select_tlsrpt_record,
    sender_compat,
    txt_value,
)

KINDS = ("tlsrpt-record", "sts-record", "sts-policy")
_DIG_ANSWER = re.compile(
    r"\s*(?P<name>\S+)\s+(?:\d+\s+)?(?:(?:IN|CH|HS)\s+)?TXT\s+(?P<rdata>\".*)", re.IGNORECASE
)
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="check a TLSRPT record, an MTA-STS record or an MTA-STS policy",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=KINDS, help="what the input is")
    parser.add_argument(
        "input", metavar="TEXT|@FILE", help="the record or policy, @FILE to read a file, @- stdin"
    )
    parser.add_argument(
        "--domain",
        help="the policy domain (tlsrpt-record: warn about mailto: addresses outside it)",
    )
    strictness = parser.add_mutually_exclusive_group()
    strictness.add_argument(
        "--strict",
        dest="strict",
        action="store_true",
        default=None,
        help="apply the RFC grammar to the letter (default for the TXT records; for "
        "sts-policy the default errs only where a widely used sender rejects)",
    )
    strictness.add_argument(
        "--lenient",
        dest="strict",
        action="store_false",
        help="read as the most tolerant senders do: their faults become warnings",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.domain is not None and args.kind != "tlsrpt-record":
        raise UsageError("--domain only applies to tlsrpt-record")
    strict = args.strict if args.strict is not None else args.kind != "sts-policy"
    data = _read(args.input)
    result: Parsed[Any] | Selected[Any]
    rrs: list[str] = []
    if args.kind == "sts-policy":
        result = parse_sts_policy(data, strict=args.strict is True, tolerant=args.strict is False)
        text: str | None = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    else:
        result, text = _lint_txt(args.kind, data, args.domain, strict, rrs)
    compat = sender_compat(args.kind, data if args.kind == "sts-policy" else text, txt_rrs=rrs)
    valid, result = with_senders(args.kind, data, result, compat, lenient=args.strict is False)
    if args.json:
        print_json_line(
            {
                "kind": args.kind,
                "senders": [verdict.to_json() for verdict in compat.verdicts],
                "valid": valid,
                "problems": result.problems,
                "parsed": result.value,
                "text": _json_text(text),
            }
        )
    else:
        _print_human(args.kind, result.value if valid else None, result.problems, text)
        print_senders(compat, None if valid else result.value, _summary)
    return 0 if valid else 1


def _json_text(text: str | None) -> str | None:
    """The record as read, for JSON: bytes that are not UTF-8 (kept as lone
    surrogates while linting, and named in the problems) become U+FFFD, as
    JSON text cannot hold them."""
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read(value: str) -> str | bytes:
    if not value.startswith("@"):
        return value
    target = value[1:]
    if target == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(target).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror}") from exc


def _lint_txt(
    kind: str, data: str | bytes, domain: str | None, strict: bool, rrs: list[str]
) -> tuple[Parsed[Any] | Selected[Any], str | None]:
    """The record's parse and text; `rrs` receives every TXT RR's text."""
    if isinstance(data, bytes):
        lines = data.decode("utf-8", "surrogateescape").split("\n")
        entries = [
            _txt_line(line.removesuffix("\r"), number)
            for number, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith(";")
        ]
        if not entries:
            raise UsageError("the file holds no TXT record")
    else:
        entries = [_txt_line(data, None)]
    rrs += [txt_value(rr) for rr, _ in entries]
    name = next((owner for _, owner in entries if owner), None)
    if kind == "sts-record":
        if len(rrs) > 1:
            selected: Selected[Any] = select_sts_record(rrs, strict=strict)
            return selected, selected.text
        text = txt_value(rrs[0])
        return parse_sts_record(text, strict=strict), text
    if len(rrs) > 1:
        selected = select_tlsrpt_record(rrs, domain=domain, name=name, strict=strict)
        return selected, selected.text
    name_domain, name_problems = check_tlsrpt_name(name) if name else (None, ())
    text = txt_value(rrs[0])
    parsed = parse_tlsrpt_record(text, domain=domain or name_domain, strict=strict)
    return parsed._replace(problems=(*name_problems, *parsed.problems)), text


def _txt_line(line: str, number: int | None) -> tuple[TxtRR, str | None]:
    """One TXT RR from a line: bare value, quoted strings, or a dig answer."""
    answer = _DIG_ANSWER.fullmatch(line)
    name, rdata = (answer["name"], answer["rdata"]) if answer else (None, line)
    if not rdata.lstrip().startswith('"'):
        return rdata, name
    try:
        txt = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, rdata)
    except dns.exception.DNSException as exc:
        where = f"line {number}" if number else "the input"
        raise UsageError(f"{where} is not a valid quoted TXT value: {exc}") from exc
    assert isinstance(txt, dns.rdtypes.txtbase.TXTBase)  # the class of rdatatype.TXT
    return list(txt.strings), name


def _location(kind: str, text: str | None, position: int | None) -> str:
    if position is None or text is None:
        return ""
    if kind != "sts-policy":
        return f"col {position + 1}"
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line} col {column}"


def _print_human(kind: str, value: Any, problems: tuple[Problem, ...], text: str | None) -> None:
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    valid = value is not None
    say(
        ("valid" if valid else "invalid", "bold green" if valid else "bold red"),
        f" {kind}",
        f" — {errors} error(s), {warnings} warning(s)" if problems else "",
    )
    if text is not None and kind != "sts-policy":
        # A TXT record is ASCII: anything else is shown as an escape too.
        say(("  " + text.encode("ascii", "backslashreplace").decode(), "dim"))
    for problem in problems:
        location = _location(kind, text, problem.position)
        say(
            "  ",
            (f"{problem.severity:<8}", _SEVERITY_STYLE[problem.severity]),
            (problem.code, "bold"),
            f" ({location})" if location else "",
            f": {problem.message}",
        )
    for label, shown in _summary(value):
        say(("  " + label + ": ", "cyan"), shown)


def _summary(value: Any) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if isinstance(value, TlsRptRecord):
        rows.append(("rua", ", ".join(value.rua)))
        if value.ignored_rua:
            rows.append(("ignored", ", ".join(value.ignored_rua)))
    elif isinstance(value, StsRecord):
        rows.append(("id", value.id))
    elif isinstance(value, StsPolicy):
        rows += [("mode", value.mode), ("max_age", str(value.max_age))]
        rows += [("mx", ", ".join(value.mx) or "(none)")]
    if value is not None and value.extensions:
        rows.append(("extensions", ", ".join(f"{k}={v}" for k, v in value.extensions.items())))
    return rows
