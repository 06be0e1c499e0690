"""`tlsrpt quarantine list|show|retry|export`: inputs that held no usable
report, kept with their bytes and the reason."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import Column, UsageError, print_json_line, print_table, say
from tlsrpt.report import sniff

if TYPE_CHECKING:
    from tlsrpt.ingest.model import IngestResult

_PREVIEW_LINES = 20


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("quarantine", help="inputs that held no usable report")
    verbs = p.add_subparsers(dest="quarantine_command", metavar="COMMAND", required=True)

    ls = verbs.add_parser("list", help="quarantined inputs with the reason")
    ls.add_argument("--limit", type=int, metavar="N", help="at most N")
    add_db_argument(ls)
    ls.add_argument("--json", action="store_true", help='print {"quarantined": [...]}')
    ls.set_defaults(func=run_list)

    show = verbs.add_parser("show", help="one raw input: source, reason, start of its content")
    show.add_argument("id", type=int, metavar="ID", help="raw input number")
    add_db_argument(show)
    show.add_argument("--json", action="store_true", help="print the metadata as JSON")
    show.set_defaults(func=run_show)

    retry = verbs.add_parser(
        "retry",
        help="run the pipeline again over quarantined inputs (after an upgrade, say)",
        description=(
            "Run the pipeline again over quarantined inputs, with the acceptance rules of their "
            "first ingestion: a mailed report held for want of an acceptable DKIM signature "
            "(reason code held) stays held, on the DKIM verdict stored with it (DKIM is not "
            "verified again), unless --accept-unsigned."
        ),
    )
    _add_selection(retry)
    retry.add_argument(
        "--accept-unsigned",
        action="store_true",
        help="also release inputs held for their DKIM verdict (recorded on each: who, when)",
    )
    add_db_argument(retry)
    retry.add_argument("--json", action="store_true", help="print every outcome as JSON")
    retry.set_defaults(func=run_retry)

    export = verbs.add_parser("export", help="write raw inputs back out, byte for byte")
    _add_selection(export)
    export.add_argument(
        "-o",
        "--output",
        default=".",
        metavar="DIR",
        help="directory to write raw-ID.EXT files into (default: .), or - for stdout (one ID)",
    )
    export.add_argument("--force", action="store_true", help="overwrite existing files")
    add_db_argument(export)
    export.add_argument("--json", action="store_true", help="print the files written as JSON")
    export.set_defaults(func=run_export)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", type=int, nargs="*", metavar="ID", help="raw input numbers")
    parser.add_argument("--all", action="store_true", help="every quarantined input")


def _selected(args: argparse.Namespace, conn: Any) -> list[int]:
    from tlsrpt.store.reads import quarantined_ids

    if bool(args.ids) == bool(args.all):
        raise UsageError("give raw input numbers or --all (not both)")
    return quarantined_ids(conn) if args.all else list(dict.fromkeys(args.ids))


def _meta_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "outcome": row["outcome"],
        "reason_code": row["reason_code"],
        "reason": row["reason"],
        "notes": orjson.loads(row["notes"]) if row["notes"] else [],
        "source_kind": row["source_kind"],
        "source_detail": row["source_detail"],
        "content_type": row["content_type"],
        "source_meta": orjson.loads(row["source_meta"]) if row["source_meta"] else {},
        "kind": row["kind"],
        "size": row["size"],
        "sha256": row["sha256"],
        "received_at": row["received_at"],
        "processed_at": row["processed_at"],
    }


def run_list(args: argparse.Namespace) -> int:
    from tlsrpt.store import budget
    from tlsrpt.store.reads import list_quarantined

    with opened_store(args, read_only=True) as store, store.read() as conn:
        rows = list_quarantined(conn, args.limit)
        today = budget.totals(conn, datetime.now(UTC).date())
    if args.json:
        print_json_line({"quarantined": [_meta_json(r) for r in rows], "budget_today": today})
        return 0
    if today["inputs"] or today["refused_inputs"]:
        say(
            f"HTTP quarantine budget today (UTC): {today['inputs']:,} inputs "
            f"({today['bytes']:,} bytes) quarantined, {today['refused_inputs']:,} refused "
            f"({today['refused_bytes']:,} bytes) from clients over their budget"
        )
    if not rows:
        say("nothing quarantined")
        return 0
    print_table(
        _LIST_COLUMNS,
        (
            (
                r["id"],
                f"{r['received_at']:%Y-%m-%d %H:%M}",
                f"{r['source_kind']}: {r['source_detail']}",
                r["size"],
                f"{r['reason_code']}: {r['reason']}",
            )
            for r in rows
        ),
    )
    return 0


_LIST_COLUMNS = (
    Column("id", numeric=True),
    Column("received (UTC)"),
    Column("source"),
    Column("bytes", numeric=True),
    Column("reason"),
)


def _preview(data: bytes) -> list[str]:
    """The first lines of the content (each printed terminal-safe)."""
    kind = sniff(data)
    if kind == "gzip" or b"\x00" in data[:4096]:
        return [f"({len(data):,} bytes of {'gzip' if kind == 'gzip' else 'binary'} data)"]
    text = data[:8192].decode("utf-8", "replace")
    # Only LF and CRLF end a line here: any other control character is shown.
    lines = [line.removesuffix("\r") for line in text.split("\n")[:_PREVIEW_LINES]]
    more = len(lines) == _PREVIEW_LINES or len(data) > 8192
    return [*lines, "..."] if more else lines


def run_show(args: argparse.Namespace) -> int:
    from tlsrpt.store import blobs
    from tlsrpt.store.reads import get_raw

    with opened_store(args, read_only=True) as store, store.read() as conn:
        row = get_raw(conn, args.id)
    if row is None:
        say(f"no raw input {args.id}", err=True)
        return 1
    meta = _meta_json(row)
    if args.json:
        print_json_line(meta)
        return 0
    lines = [
        f"raw input {meta['id']}: {meta['outcome']}",
        f"  source {meta['source_kind']}: {meta['source_detail']}",
        f"  received {meta['received_at']:%Y-%m-%d %H:%M:%S} UTC, {meta['size']:,} bytes, "
        f"sha256 {meta['sha256']}",
    ]
    if meta["content_type"]:
        lines.append(f"  content type {meta['content_type']}")
    if meta["reason"]:
        lines.append(f"  reason: {meta['reason_code']}: {meta['reason']}")
    lines.extend(f"  note: {n['code']} at {n['path']}: {n['reason']}" for n in meta["notes"])
    lines.extend(f"  {k}: {v}" for k, v in meta["source_meta"].items())
    for line in lines:
        say(line)
    say("content:", style="bold")
    for line in _preview(blobs.unpack(row["codec"], row["data"])):
        say(line)
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from tlsrpt.ingest.model import HELD
    from tlsrpt.ingest.pipeline import reprocess
    from tlsrpt.receive.dkim_verify import unsigned_release

    release = unsigned_release("quarantine retry --accept-unsigned")
    with opened_store(args) as store:
        with store.read() as conn:
            ids = _selected(args, conn)
        try:
            results = reprocess(store, ids, release=release if args.accept_unsigned else None)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from exc
    if args.json:
        print_json_line({"results": [_result_json(r) for r in results]})
        return 1 if any(r.outcome == "quarantined" for r in results) else 0
    for r in results:
        text = f"raw input {r.raw_id}: {r.outcome}" + (f": {r.reason}" if r.reason else "")
        if r.released_unsigned:
            text += f" (DKIM hold lifted by {release.by})"
        say(text)
    still = sum(r.outcome == "quarantined" for r in results)
    say(f"{len(results) - still} released, {still} still quarantined")
    held = [r.raw_id for r in results if r.reason_code == HELD]
    if held:
        say(
            f"{len(held)} held for want of an acceptable DKIM signature (RFC 8460 §3): "
            "judged by the verdict stored on arrival (DKIM is not verified again); "
            "`tlsrpt quarantine retry ID... --accept-unsigned` stores them anyway and "
            "records who did so",
            err=True,
        )
    return 1 if still else 0


def _result_json(r: IngestResult) -> dict[str, Any]:
    return {
        "raw_id": r.raw_id,
        "outcome": r.outcome,
        "reason_code": r.reason_code,
        "reason": r.reason,
        "report_ids": list(r.report_ids),
        "conflict": r.conflict,
        "released_unsigned": r.released_unsigned,
    }


def _extension(data: bytes) -> str:
    kind = sniff(data)
    if kind == "gzip":
        return ".json.gz"
    if kind == "json":
        return ".json"
    return ".eml" if data[:1].isalpha() else ".bin"


def run_export(args: argparse.Namespace) -> int:
    from tlsrpt.store import blobs
    from tlsrpt.store.reads import get_raw

    with opened_store(args, read_only=True) as store, store.read() as conn:
        ids = _selected(args, conn)
        if args.output == "-" and len(ids) != 1:
            raise UsageError("-o - writes one input to stdout: give exactly one ID")
        if args.output == "-" and sys.stdout.isatty():
            # Raw input is untrusted bytes: never sent to a terminal unescaped.
            raise UsageError("-o - writes raw bytes: redirect stdout to a file or pipe")
        target = Path(args.output)
        if args.output != "-" and not target.is_dir():
            raise UsageError(f"{target}: not a directory")
        written: list[dict[str, Any]] = []
        missing = []
        for raw_id in ids:
            row = get_raw(conn, raw_id)
            if row is None:
                missing.append(raw_id)
                continue
            data = blobs.unpack(row["codec"], row["data"])
            if args.output == "-":
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
                return 0
            path = target / f"raw-{raw_id}{_extension(data)}"
            if path.exists() and not args.force:
                raise UsageError(f"{path} exists (use --force to overwrite)")
            path.write_bytes(data)
            written.append({"raw_id": raw_id, "path": str(path), "size": len(data)})
    if args.json:
        print_json_line({"written": written, "missing": missing})
    else:
        for w in written:
            say(f"{w['path']} ({w['size']:,} bytes)")
        for raw_id in missing:
            say(f"no raw input {raw_id}", err=True)
    return 1 if missing else 0
