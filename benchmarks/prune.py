"""Retention: how long a prune takes, and how long its longest write
transaction holds the lock a receiver waits for, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/prune.py [--copies 5] [--days 400] [--postgres URL]

The demo generator's reports (`tlsrpt.demo`, five domains) over `--days`
days, `--copies` times under other report ids, go through `ingest_batch`
(received three hours after their day ends); then `prune` at 90 days runs
with its default batches and no pause (serve pauses 0.1 s between them).
PostgreSQL runs when `--postgres` or TLSRPT_TEST_POSTGRES_URL gives a URL;
it works in a schema of its own, dropped at the end. Only loopback is
contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Connection

from tlsrpt.demo import demo_reports
from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.report.serialize import to_json
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.pgschema import temporary_schema
from tlsrpt.store.retention import Cutoffs, prune

END = date(2026, 6, 30)


def fill(store: Store, copies: int, days: int) -> int:
    base = demo_reports(END, days)
    for copy in range(copies):
        inputs = [
            RawInput(
                to_json(r).replace(b"Z_", f"Z_{copy}_".encode(), 1),
                SourceInfo(
                    "file", "bench", received_at=r.date_range.end_datetime + timedelta(hours=3)
                ),
            )
            for r in base
        ]
        for start in range(0, len(inputs), 2000):
            ingest_batch(store, inputs[start : start + 2000])
    return copies * len(base)


class _TimedStore(Store):
    """A store that keeps the duration of its longest write transaction."""

    longest = 0.0

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        start = time.perf_counter()
        with super().write() as conn:
            yield conn
        self.longest = max(self.longest, time.perf_counter() - start)


def run(url: str, label: str, copies: int, days: int) -> None:
    open_store(url).close()  # created and migrated
    store = _TimedStore(url)
    try:
        stored = fill(store, copies, days)
        cut = datetime.combine(END + timedelta(days=1), datetime.min.time()) - timedelta(days=90)
        store.longest = 0.0
        start = time.perf_counter()
        removed = prune(store, Cutoffs(cut, cut))
        took = time.perf_counter() - start
    finally:
        store.close()
    print(
        f"{label:<10} {stored:>7} reports stored, {removed['reports']:>7} pruned "
        f"({removed['raw_inputs']} raw inputs) in {took:.2f} s; "
        f"longest write transaction {store.longest * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--postgres", default=os.environ.get("TLSRPT_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{Path(folder) / 'prune.sqlite3'}", "SQLite", args.copies, args.days)
    if args.postgres:
        with temporary_schema(args.postgres, "tlsrpt_bench") as url:
            run(url, "PostgreSQL", args.copies, args.days)


if __name__ == "__main__":
    main()
