"""The MTA pipe for `rua=mailto:` (RFC 8460 §5.3): one report e-mail an
MTA hands over (an alias or pipe transport), stored through the ingest
pipeline. `tlsrpt ingest-mail` (`tlsrpt.cli.ingest_mail`) reads it on stdin
and maps the outcome to an exit status.

The DKIM policy is the SMTP receiver's (`tlsrpt.receive.dkim_verify`): a
message without an acceptable signature is quarantined (RFC 8460 §3;
docs/conformance.md#dkim-required) unless `accept_unsigned`, which stores
it and records who let it in and when. The same bytes piped again with
`accept_unsigned` release the copy that was held, recorded the same way.
A message is delivered once it is stored (accepted, duplicate or
quarantined: kept either way); `TryLater` when the DKIM key lookup failed
or the store is unavailable, so that the MTA queues it and retries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import sqlalchemy as sa

from tlsrpt.ingest.model import HELD, IngestResult, SourceInfo
from tlsrpt.ingest.pipeline import ingest, reprocess
from tlsrpt.receive.dkim_verify import (
    DkimVerdict,
    hold_reason,
    mail_verdict,
    txt_lookup,
    unsigned_release,
    verdict_meta,
)
from tlsrpt.store.engine import Store, db_reason, open_store
from tlsrpt.store.reads import get_raw
from tlsrpt.store.url import StoreError

DnsFunc = Callable[..., bytes | None]  # a dkimpy `dnsfunc` (`txt_lookup`)
# How a message without an acceptable signature was let in (recorded with it).
HOW = "ingest-mail --accept-unsigned"


class TryLater(Exception):
    """The message is not stored: the MTA should keep it and retry. The
    message says why."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """A message stored (accepted, duplicate or quarantined) and its DKIM verdict."""

    result: IngestResult
    verdict: DkimVerdict


def read_bounded(stream: BinaryIO, limit: int) -> bytes | None:
    """The whole stream, or None once it passes `limit`."""
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


def nameserver_lookup(nameserver: str | None) -> DnsFunc:
    """DKIM key lookups through HOST, HOST:PORT, IPv6 or [IPv6]:PORT (None:
    the system resolver). ValueError names what is wrong with it."""
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
        raise ValueError(f"--nameserver {nameserver}: expected HOST or HOST:PORT")
    return txt_lookup([host], int(port))


def deliver(
    database_url: str | None,
    data: bytes,
    dnsfunc: DnsFunc,
    *,
    accept_unsigned: bool = False,
    require_tlsrpt_service: bool = False,
) -> Delivered:
    """Store one message under the DKIM policy; raises `TryLater`."""
    verdict = mail_verdict(data, dnsfunc, require_tlsrpt_service=require_tlsrpt_service)
    if verdict.result == "temperror":
        raise TryLater(verdict.reason)
    # RFC 8460 §3; docs/conformance.md#dkim-required
    hold = hold_reason(verdict, accept_unsigned)
    meta = verdict_meta(verdict, accept_unsigned, HOW)
    source = SourceInfo(kind="pipe", detail="stdin", content_type="message/rfc822", meta=meta)
    try:
        with open_store(database_url) as store:
            result = ingest(store, data, source, hold=hold)
            if accept_unsigned and _copy_of_held(store, result):
                (result,) = reprocess(store, [result.raw_id], release=unsigned_release(HOW))
    except StoreError as exc:
        raise TryLater(str(exc)) from exc
    except sa.exc.DBAPIError as exc:
        raise TryLater(f"database: {db_reason(exc)}") from exc
    return Delivered(result, verdict)


def _copy_of_held(store: Store, result: IngestResult) -> bool:
    """The bytes were stored before, and held for their DKIM verdict."""
    if result.outcome != "quarantined" or result.reason_code != "same-bytes":
        return False
    with store.read() as conn:
        row = get_raw(conn, result.raw_id)
    return row is not None and row["reason_code"] == HELD
