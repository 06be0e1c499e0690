"""`tlsrpt import PATH... [--db URL] [--json]`: store report files, e-mail
files, mbox files and Maildir folders through the ingest pipeline."""

from __future__ import annotations

import argparse
import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import UsageError, console, err_console, print_json_line, say
from tlsrpt.ingest.model import IngestResult, RawInput
from tlsrpt.receive.files import Entry, Skipped, discover, read_entry

if TYPE_CHECKING:
    from tlsrpt.store.engine import Store

# One transaction per batch: large enough to amortize the commit and the
# index pages it writes, small enough that an interrupted import redoes little.
BATCH_INPUTS = 1000
BATCH_BYTES = 16 * 1024 * 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="store reports from files, directories, mbox files and Maildir folders",
        description=(
            "Store TLS-RPT reports (.json, .json.gz, .gz, .eml, mbox, Maildir; directories "
            "recursively). Duplicates are recognised; inputs that hold no usable report are "
            "quarantined with the reason. Exit status 1 if anything was quarantined or "
            "could not be read."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file or directory")
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object with every outcome")
    p.add_argument("-v", "--verbose", action="store_true", help="print every input's outcome")
    p.add_argument(
        "--batch-size",
        type=int,
        default=BATCH_INPUTS,
        metavar="N",
        help=f"inputs per transaction (default {BATCH_INPUTS})",
    )
    p.set_defaults(func=run)


class _Run:
    """Batches inputs into the pipeline and keeps the tallies."""

    def __init__(self, store: Store, args: argparse.Namespace) -> None:
        self.store = store
        self.args = args
        self.batch: list[RawInput] = []
        self.batch_bytes = 0
        self.totals: Counter[str] = Counter()
        self.records: list[dict[str, Any]] = []

    def add(self, raw: RawInput) -> None:
        self.batch.append(raw)
        self.batch_bytes += len(raw.data)
        if len(self.batch) >= self.args.batch_size or self.batch_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        from tlsrpt.ingest.pipeline import ingest_batch

        if not self.batch:
            return
        for raw, result in zip(self.batch, ingest_batch(self.store, self.batch), strict=True):
            self.record(raw.source.detail, result)
        self.batch, self.batch_bytes = [], 0

    def record(self, source: str, result: IngestResult) -> None:
        self.totals[result.outcome] += 1
        self.totals["conflicts"] += result.conflict
        if self.args.json:
            self.records.append(
                {
                    "source": source,
                    "outcome": result.outcome,
                    "reason_code": result.reason_code,
                    "reason": result.reason,
                    "raw_id": result.raw_id,
                    "report_ids": list(result.report_ids),
                    "conflict": result.conflict,
                    "warnings": list(result.warnings),
                }
            )
            return
        if result.outcome == "quarantined" or result.conflict or self.args.verbose:
            text = f"{result.outcome}: {source}"
            if result.reason:
                text += f": {result.reason}"
            text += f" (raw input {result.raw_id})"
            say(text)
        for warning in result.warnings:
            say(f"  warning: {warning}")


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        yield progress


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    for path in args.paths:
        if not Path(path).exists():
            raise UsageError(f"{path}: no such file or directory")
    entries, skipped = discover(args.paths)
    with opened_store(args) as store:
        job = _Run(store, args)
        # Only for someone watching: never into a file or pipe, nor beside --json.
        show_bar = console.is_terminal and err_console.is_terminal and not args.json
        with _progress(show_bar, len(entries)) as progress:
            task = progress.add_task("import", total=len(entries)) if progress else None
            for entry in entries:
                _import_entry(job, entry, skipped)
                if progress is not None and task is not None:
                    progress.advance(task)
            job.flush()
    return _report(job, skipped, args)


def _import_entry(job: _Run, entry: Entry, skipped: list[Skipped]) -> None:
    try:
        for raw in read_entry(entry):
            job.add(raw)
    except OSError as exc:
        skipped.append(Skipped(str(entry.path), f"cannot read: {exc.strerror or exc}"))


def _report(job: _Run, skipped: list[Skipped], args: argparse.Namespace) -> int:
    totals = job.totals
    problems = [s for s in skipped if s.problem]
    if args.json:
        print_json_line(
            {
                "accepted": totals["accepted"],
                "duplicate": totals["duplicate"],
                "quarantined": totals["quarantined"],
                "conflicts": totals["conflicts"],
                "skipped": [
                    {"path": s.path, "reason": s.reason, "problem": s.problem} for s in skipped
                ],
                "inputs": job.records,
            }
        )
    else:
        for s in skipped:
            if s.problem or args.verbose:
                label = "not imported" if s.problem else "skipped"
                say(f"{label}: {s.path}: {s.reason}", err=True)
        line = (
            f"{totals['accepted']} accepted, {totals['duplicate']} duplicate"
            + (f" ({totals['conflicts']} conflicting)" if totals["conflicts"] else "")
            + f", {totals['quarantined']} quarantined"
        )
        if problems:
            line += f", {len(problems)} not imported"
        if len(skipped) > len(problems):
            line += f"; {len(skipped) - len(problems)} other files skipped (-v lists them)"
        say(line)
    return 1 if totals["quarantined"] or problems else 0
