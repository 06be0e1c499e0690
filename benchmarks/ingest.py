"""Ingest throughput, database size and summary latency, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/ingest.py [--reports 20000] [--stored 200000]
        [--postgres URL] [--workdir DIR]
    full sizes: --reports 100000 --stored 1000000

1. Ingest: `--reports` synthetic gzip reports (Google-like: one sts policy,
   sometimes a tlsa one or no-policy-found; 30 % with 1-3 failure rows;
   1,000 policy domains, 10 organizations, 90 days) go through
   `ingest_batch` in transactions of 1,000, as `tlsrpt import` does.
   Reference in the same run: parse-only throughput (`parse_input` over the
   same bytes), measured before and after; ratio = ingest / mean(parse).
   Target: SQLite >= 0.25. Database size per 1,000 reports after ingest.
2. Summary latency with `--stored` reports: a fresh database is bulk-loaded
   (see `bulk_load`) and `tlsrpt summary --domain D --since D-89 --until D`
   is timed in process, as the CLI runs it (open the store, query,
   summarize: interpreter start-up excluded) and on an open store (as the
   web service runs it), 30 runs, median and 95th percentile, for the busiest domain
   (5 % of all reports, from ~280 reporters a day at the full size) and a
   typical one. Target: < 100 ms.

PostgreSQL runs when `--postgres` or TLSRPT_TEST_POSTGRES_URL gives a URL
(e.g. postgresql://postgres@127.0.0.1:5432/test); the benchmark works in a
schema of its own and drops it at the end. Only loopback is contacted.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from bulk import Placement, bulk_load, percentiles, postgres_schemas
from tlsrpt.analysis.summary import summarize
from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.report import (
    parse_input,
)
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.reads import summary_rows
from tlsrpt.store.window import Window

FIRST_DAY = date(2024, 1, 1)
BATCH = 1000
ORGS = ["Google Inc.", "Microsoft Corporation", "Mail.ru", "Yahoo", "Comcast"] + [
    f"Provider {i}" for i in range(5)
]
RESULTS = [
    "certificate-expired",
    "starttls-not-supported",
    "validation-failure",
    "sts-policy-fetch-error",
]


# ---------------------------------------------------------------- reports


def _policy(rng: random.Random, domain: str, kind: str) -> dict[str, Any]:
    failed = rng.randint(1, 40) if rng.random() < 0.3 else 0
    details = []
    for k in range(rng.randint(1, 3) if failed else 0):
        details.append(
            {
                "result-type": RESULTS[k % len(RESULTS)],
                "sending-mta-ip": f"203.0.113.{rng.randint(1, 254)}",
                "receiving-mx-hostname": f"mx{rng.randint(1, 3)}.{domain}",
                "receiving-ip": f"198.51.100.{rng.randint(1, 254)}",
                "failed-session-count": max(1, failed // (k + 1)),
                "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED",
            }
        )
    policy: dict[str, Any] = {"policy-type": kind, "policy-domain": domain}
    if kind == "sts":
        policy["policy-string"] = [
            "version: STSv1",
            "mode: testing",
            f"mx: *.{domain}",
            "max_age: 604800",
        ]
        policy["mx-host"] = [f"*.{domain}"]
    elif kind == "tlsa":
        policy["policy-string"] = ["3 1 1 " + "AB" * 32]
    out: dict[str, Any] = {
        "policy": policy,
        "summary": {
            "total-successful-session-count": rng.randint(0, 5000),
            "total-failure-session-count": failed,
        },
    }
    if details:
        out["failure-details"] = details
    return out


def report_bytes(i: int, rng: random.Random) -> bytes:
    day = FIRST_DAY + timedelta(days=i % 90)
    domain = f"d{(i // 90) % 1000}.example"
    org = ORGS[(i // 90_000) % len(ORGS)]
    roll = rng.random()
    kinds = ["sts", "tlsa"] if roll < 0.1 else ["no-policy-found"] if roll < 0.2 else ["sts"]
    doc = {
        "organization-name": org,
        "date-range": {
            "start-datetime": f"{day}T00:00:00Z",
            "end-datetime": f"{day}T23:59:59Z",
        },
        "contact-info": "smtp-tls-reporting@org.example",
        "report-id": f"{day}T00:00:00Z_{domain}_{i}",
        "policies": [_policy(rng, domain, k) for k in kinds],
    }
    return gzip.compress(orjson.dumps(doc), mtime=0)


# ---------------------------------------------------------------- ingest


def parse_only(data: list[bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    for item in data:
        parse_input(item)
    return time.perf_counter() - start


def ingest_all(store: Store, data: list[bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    for i in range(0, len(data), BATCH):
        batch = [
            RawInput(d, SourceInfo("file", f"bench/{i + j}.json.gz"))
            for j, d in enumerate(data[i : i + BATCH])
        ]
        results = ingest_batch(store, batch)
        assert all(r.outcome == "accepted" for r in results), results[0]
    return time.perf_counter() - start


def database_bytes(store: Store) -> int:
    if store.is_sqlite:  # fold the WAL into the file first (outside a transaction)
        raw = store.engine.raw_connection()
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        raw.close()
        path = Path(str(store.url.database))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with store.read() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            ).scalar_one()
        )


# ---------------------------------------------------------------- 1M case


def placement(days: int) -> Placement:
    """5 % of all reports for one busy domain with many reporters a day; the
    rest spread over 20,000 domains and the usual large senders."""

    def place(i: int) -> tuple[str, date, str]:
        if i % 20 == 0:
            day = FIRST_DAY + timedelta(days=(i // 20) % days)
            return "big.example", day, f"Reporter {(i // 20 // days) % 1000}"
        return f"d{i % 20_000}.example", FIRST_DAY + timedelta(days=i % days), ORGS[i % len(ORGS)]

    return place


def summary_latency(url: str, domain: str, days: int, runs: int = 30) -> dict[str, Any]:
    """`tlsrpt summary --domain D` over the last 90 days: as the CLI runs it
    (open the store, query, summarize) and on a store already open (as the
    web service does). Median and 95th percentile of `runs`."""
    until = FIRST_DAY + timedelta(days=days - 1)
    window = Window(domain, until - timedelta(days=89), until)

    def summary(store: Store) -> int:
        with store.read() as conn:
            rows = summary_rows(conn, window)
        result = summarize(rows.totals, rows.by_result, rows.mx_hosts, rows.sending_ips)
        return result[0].reports if result else 0

    cli, warm = [], []
    with open_store(url) as service:
        for _ in range(runs):
            start = time.perf_counter()
            with open_store(url) as store:
                reports = summary(store)
            cli.append(time.perf_counter() - start)
            start = time.perf_counter()
            summary(service)
            warm.append(time.perf_counter() - start)

    def stats(timings: list[float]) -> str:
        median, p95 = percentiles(timings)
        return f"median {median:.1f} ms, p95 {p95:.1f} ms"

    return {"reports": reports, "cli": stats(cli), "open": stats(warm)}


# ---------------------------------------------------------------- driver


def run_backend(
    name: str, make_url: Callable[[], str], data: list[bytes], args: argparse.Namespace
) -> None:
    print(f"\n{name}")
    url = make_url()
    store = open_store(url)
    before = parse_only(data)
    took = ingest_all(store, data)
    after = parse_only(data)
    parse_rate = len(data) / ((before + after) / 2)
    rate = len(data) / took
    size = database_bytes(store)
    store.close()
    print(
        f"  parse only          {parse_rate:>10,.0f} reports/s  "
        f"(before {len(data) / before:,.0f}, after {len(data) / after:,.0f})"
    )
    ratio = rate / parse_rate
    print(f"  ingest              {rate:>10,.0f} reports/s  ratio to parse-only {ratio:.2f}")
    print(f"  database size       {size / (len(data) / 1000) / 1024:>10,.0f} KiB per 1,000 reports")

    url = make_url()
    store = open_store(url)
    load = bulk_load(store, args.stored, placement(args.days))
    size = database_bytes(store)
    store.close()
    print(
        f"  bulk load           {args.stored:,} reports in {load:.0f} s ({size / 2**20:,.0f} MiB)"
    )
    for domain, what in (("big.example", "busiest domain"), ("d1.example", "typical domain")):
        got = summary_latency(url, domain, args.days)
        print(f"  summary --domain, 90 days, {what}, {got['reports']:,} reports:")
        print(f"    CLI (open the store, query)   {got['cli']}")
        print(f"    store already open (service)  {got['open']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=20_000, help="reports to ingest (full: 100000)")
    ap.add_argument(
        "--stored", type=int, default=200_000, help="reports stored for the summary (full: 1000000)"
    )
    ap.add_argument("--days", type=int, default=180, help="days the stored reports span")
    ap.add_argument("--postgres", default=os.environ.get("TLSRPT_TEST_POSTGRES_URL"))
    ap.add_argument("--workdir", type=Path, help="where the SQLite files go (default: a temp dir)")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    rng = random.Random(8460)
    data = [report_bytes(i, rng) for i in range(args.reports)]
    print(
        f"{len(data):,} gzip reports ({sum(map(len, data)) / len(data):.0f} bytes each), "
        f"{args.stored:,} stored for the summary"
    )
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        if not args.no_sqlite:
            counter = iter(range(1000))
            run_backend(
                "SQLite", lambda: f"sqlite:///{tmp}/bench-{next(counter)}.sqlite3", data, args
            )
        if args.postgres:
            with postgres_schemas(args.postgres) as fresh:
                run_backend("PostgreSQL", fresh, data, args)
        else:
            print("\nPostgreSQL: skipped (give --postgres URL or set TLSRPT_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
