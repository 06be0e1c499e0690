"""`tlsrpt ingest-mail [--db URL] [--json]`: store one report e-mail read on
stdin, for an MTA alias or pipe transport (`rua=mailto:...`, RFC 8460 §5.3).

The DKIM policy is the SMTP receiver's (`tlsrpt.receive.dkim_verify`): a
message without an acceptable signature is quarantined (RFC 8460 §3;
docs/conformance.md#dkim-required) unless `--accept-unsigned`, which stores it and records who let
it in and when. The same bytes piped again with `--accept-unsigned` release the copy that
was held, recorded the same way. Exit status follows sysexits(3), which MTAs act on:
0 when the message is stored (accepted, duplicate or quarantined: it is
kept either way, so the MTA must not retry), 75 (EX_TEMPFAIL) when the
store is unavailable or the DKIM key lookup failed, so the MTA queues the
message and retries, 65 (EX_DATAERR) for a message over the size limit,
which the MTA bounces.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import BinaryIO

import sqlalchemy as sa

from tlsrpt.cli.db import add_db_argument
from tlsrpt.cli.output import UsageError, err_console, print_json_line, say
from tlsrpt.ingest.model import HELD, IngestResult, SourceInfo
from tlsrpt.ingest.pipeline import ingest, reprocess
from tlsrpt.receive.dkim_verify import (
    hold_reason,
    mail_verdict,
    txt_lookup,
    unsigned_release,
    verdict_meta,
)
from tlsrpt.report import DEFAULT_LIMITS
from tlsrpt.store.engine import Store, db_reason, open_store
from tlsrpt.store.reads import get_raw
from tlsrpt.store.url import StoreError

EX_OK, EX_DATAERR, EX_TEMPFAIL = 0, 65, 75
HOW = "ingest-mail --accept-unsigned"


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


def _read_bounded(stream: BinaryIO, limit: int) -> bytes | None:
    """The whole stream, or None once it passes `limit`."""
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


def _dnsfunc(nameserver: str | None) -> Callable[..., bytes | None]:
    """HOST, HOST:PORT, IPv6 or [IPv6]:PORT."""
    if nameserver is None:
        return txt_lookup()
    if nameserver.startswith("["):
        host, _, rest = nameserver[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif nameserver.count(":") == 1:
        host, port = nameserver.split(":")
    else:
        host, port = nameserver, "53"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--nameserver {nameserver}: expected HOST or HOST:PORT")
    return txt_lookup([host], int(port))


def run(args: argparse.Namespace) -> int:
    limit = DEFAULT_LIMITS.max_message_bytes
    data = _read_bounded(sys.stdin.buffer, limit)
    if data is None:
        err_console.print(f"error: message exceeds {limit} bytes; not stored", markup=False)
        return EX_DATAERR
    verdict = mail_verdict(
        data, _dnsfunc(args.nameserver), require_tlsrpt_service=args.require_tlsrpt_service
    )
    if verdict.result == "temperror":
        say(f"error: {verdict.reason}; try again later", err=True)
        return EX_TEMPFAIL
    # RFC 8460 §3; docs/conformance.md#dkim-required
    hold = hold_reason(verdict, args.accept_unsigned)
    meta = verdict_meta(verdict, args.accept_unsigned, HOW)
    source = SourceInfo(kind="pipe", detail="stdin", content_type="message/rfc822", meta=meta)
    try:
        with open_store(args.db) as store:
            result = ingest(store, data, source, hold=hold)
            if args.accept_unsigned and _copy_of_held(store, result):
                (result,) = reprocess(store, [result.raw_id], release=unsigned_release(HOW))
    except StoreError as exc:
        say(f"error: {exc}; try again later", err=True)
        return EX_TEMPFAIL
    except sa.exc.DBAPIError as exc:
        say(f"error: database: {db_reason(exc)}; try again later", err=True)
        return EX_TEMPFAIL
    if args.json:
        print_json_line(
            {
                "outcome": result.outcome,
                "raw_id": result.raw_id,
                "reason_code": result.reason_code,
                "reason": result.reason,
                "report_ids": list(result.report_ids),
                "conflict": result.conflict,
                "released_unsigned": result.released_unsigned,
                "dkim": verdict.as_meta(),
            }
        )
    else:
        text = f"{result.outcome} (raw input {result.raw_id})"
        if result.released_unsigned:
            text += ", released from the DKIM hold by --accept-unsigned"
        say(text + (f": {result.reason}" if result.reason else ""))
    return EX_OK


def _copy_of_held(store: Store, result: IngestResult) -> bool:
    """The bytes were stored before, and held for their DKIM verdict."""
    if result.outcome != "quarantined" or result.reason_code != "same-bytes":
        return False
    with store.read() as conn:
        row = get_raw(conn, result.raw_id)
    return row is not None and row["reason_code"] == HELD
