"""The admin console's bulk domain import: how long a list of N domains
(one a line, all given to one owner) takes to read and register, SQLite and
PostgreSQL, as the dashboard does it: `read_domain_list`, then
`import_domains` in one write transaction.

    .venv/bin/python benchmarks/domain_import.py [--lines 10000] [--postgres URL]

PostgreSQL runs when `--postgres` or TLSRPT_TEST_POSTGRES_URL gives a URL;
it works in a schema of its own, dropped at the end. Only loopback is
contacted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tlsrpt.domains import read_domain_list
from tlsrpt.store.domain_import import import_domains
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.pgschema import temporary_schema
from tlsrpt.store.users import add_user

OWNER = "customer@example.net"


def measure(store: Store, lines: int) -> tuple[float, float, int]:
    """(seconds to read the list, seconds to import it, domains added)."""
    with store.write() as conn:
        add_user(conn, OWNER, None, admin=False)
    text = "\n".join(f"customer-{i}.example  # customer {i}" for i in range(lines))
    start = time.perf_counter()
    names = [e.name for e in read_domain_list(text) if e.name and e.repeat_of is None]
    read = time.perf_counter() - start
    start = time.perf_counter()
    with store.write() as conn:
        done = import_domains(conn, names, OWNER)
    return read, time.perf_counter() - start, len(done.added)


def stores(postgres: str | None) -> Iterator[tuple[str, Store]]:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'import.sqlite3'}")
        try:
            yield "sqlite", store
        finally:
            store.close()
    if postgres:
        with temporary_schema(postgres, "tlsrpt_bench") as url:
            store = open_store(url)
            try:
                yield "postgresql", store
            finally:
                store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get("TLSRPT_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    for backend, store in stores(args.postgres):
        read, wrote, added = measure(store, args.lines)
        print(
            f"{backend:10} {args.lines:,} lines: read {read * 1000:.0f} ms, "
            f"import {wrote * 1000:.0f} ms ({added:,} added and given to the owner)"
        )


if __name__ == "__main__":
    main()
