"""`tlsrpt ingest-mail [--db URL] [--json]`: store one report e-mail read on
stdin, for an MTA alias or pipe transport (`rua=mailto:...`, RFC 8460 §5.3).

The receiving itself is `tlsrpt.receive.pipe` (the SMTP receiver's DKIM
policy; `--accept-unsigned` stores a message without an acceptable
signature, and releases the held copy of one piped before). Exit status
follows sysexits(3), which MTAs act on:
0 when the message is stored (accepted, duplicate or quarantined: it is
kept either way, so the MTA must not retry), 75 (EX_TEMPFAIL) when the
store is unavailable or the DKIM key lookup failed, so the MTA queues the
message and retries, 65 (EX_DATAERR) for a message over the size limit,
which the MTA bounces.
"""

from __future__ import annotations

import argparse
import sys

from tlsrpt.cli.db import add_db_argument
from tlsrpt.cli.output import UsageError, err_console, print_json_line, say
from tlsrpt.receive.pipe import Delivered, TryLater, deliver, nameserver_lookup, read_bounded
from tlsrpt.report import DEFAULT_LIMITS

EX_OK, EX_DATAERR, EX_TEMPFAIL = 0, 65, 75


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ingest-mail",
        help="store one report e-mail read on stdin (MTA pipe)",
        description=(
            "Read one e-mail message on stdin and store it through the ingest pipeline. "
            "Exit 0 once stored (accepted, duplicate or quarantined), 75 when the database is "
            "unavailable (the MTA retries), 65 when the message exceeds "
            f"{DEFAULT_LIMITS.max_message_bytes} bytes."
        ),
    )
    add_db_argument(p)
    p.add_argument(
        "--accept-unsigned",
        action="store_true",
        help="store reports without an acceptable DKIM signature (recorded: who, when); "
        "releases the held copy of a message piped before",
    )
    p.add_argument(
        "--require-tlsrpt-service",
        action="store_true",
        help="accept only DKIM keys with s=tlsrpt (RFC 8460 §3)",
    )
    p.add_argument(
        "--nameserver",
        metavar="HOST[:PORT]",
        help="DNS server for DKIM keys (default: the system resolver)",
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    limit = DEFAULT_LIMITS.max_message_bytes
    data = read_bounded(sys.stdin.buffer, limit)
    if data is None:
        err_console.print(f"error: message exceeds {limit} bytes; not stored", markup=False)
        return EX_DATAERR
    try:
        dnsfunc = nameserver_lookup(args.nameserver)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        delivered = deliver(
            args.db,
            data,
            dnsfunc,
            accept_unsigned=args.accept_unsigned,
            require_tlsrpt_service=args.require_tlsrpt_service,
        )
    except TryLater as exc:
        say(f"error: {exc}; try again later", err=True)
        return EX_TEMPFAIL
    _print(delivered, as_json=args.json)
    return EX_OK


def _print(delivered: Delivered, *, as_json: bool) -> None:
    result = delivered.result
    if as_json:
        print_json_line(
            {
                "outcome": result.outcome,
                "raw_id": result.raw_id,
                "reason_code": result.reason_code,
                "reason": result.reason,
                "report_ids": list(result.report_ids),
                "conflict": result.conflict,
                "released_unsigned": result.released_unsigned,
                "dkim": delivered.verdict.as_meta(),
            }
        )
        return
    text = f"{result.outcome} (raw input {result.raw_id})"
    if result.released_unsigned:
        text += ", released from the DKIM hold by --accept-unsigned"
    say(text + (f": {result.reason}" if result.reason else ""))
