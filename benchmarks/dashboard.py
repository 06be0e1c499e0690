"""Dashboard and API latency with many domains and reports, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/dashboard.py [--reports 1000000] [--domains 1000]
        [--postgres URL] [--workdir DIR] [--runs 30]

A fresh database is bulk-loaded with `--reports` reports for `--domains`
policy domains over 90 days (about 11 reporters per domain and day, 30 %
of the reports with 1-3 failure details), built as parsed models and written
with the ingest code (`build_rows`, `writer.insert_reports`,
`writer.add_rollups`), as benchmarks/ingest.py does; parsing and raw inputs
are skipped (neither is read here). Then, through the real app in process
(ASGI, no network), with an admin's token or session:

- the domain time-series API call: `GET /api/v1/domains/D/daily?days=90`
  for random domains;
- the overview page: `GET /?days=30`, the first page (50 domains, by
  name: analysis, sparkline and readiness of each) of all the domains;
- for information, `GET /api/v1/domains?days=30`: all domains at once.

Printed: p50 and p95 of `--runs` calls each, and as reference, measured in
the same run, `GET /healthz` (the framework's own cost per request).
Target (issue 6): p95 < 150 ms for the first two on both databases.

PostgreSQL runs when `--postgres` or TLSRPT_TEST_POSTGRES_URL gives a URL;
the benchmark works in a schema of its own and drops it at the end. Only
loopback is contacted.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tlsrpt.ingest.rows import build_rows
from tlsrpt.report import DateRange, FailureDetail, ParsedReport, Policy, PolicyResult, Report
from tlsrpt.report import Summary as SessionSummary
from tlsrpt.store import writer
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.url import normalize_url
from tlsrpt.store.users import add_user, create_token
from tlsrpt.web.app import create_app
from tlsrpt.web.dashboard.routes import PAGE_SIZE
from tlsrpt.web.settings import Settings

DAYS = 90
LAST_DAY = datetime.now(UTC).date()
FIRST_DAY = LAST_DAY - timedelta(days=DAYS - 1)
ORGS = ["Google Inc.", "Microsoft Corporation", "Mail.ru", "Yahoo", "Comcast"] + [
    f"Provider {i}" for i in range(7)
]
RESULTS = ["certificate-expired", "starttls-not-supported", "validation-failure"]
PASSWORD = "benchmark password"  # noqa: S105 (a throwaway benchmark user)


def _report(i: int, domains: int, rng: random.Random) -> Report:
    domain = f"d{i % domains}.example"
    day = FIRST_DAY + timedelta(days=(i // domains) % DAYS)
    org = ORGS[(i // (domains * DAYS)) % len(ORGS)]
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    failed = rng.randint(1, 40) if rng.random() < 0.3 else 0
    details = [
        FailureDetail(
            result_type=RESULTS[k],
            failed_session_count=max(1, failed // (k + 1)),
            sending_mta_ip=f"203.0.113.{rng.randint(1, 254)}",
            receiving_mx_hostname=f"mx{rng.randint(1, 3)}.{domain}",
        )
        for k in range(rng.randint(1, 3) if failed else 0)
    ]
    return Report(
        organization_name=org,
        date_range=DateRange(start, start + timedelta(seconds=86399)),
        contact_info="smtp-tls-reporting@org.example",
        report_id=f"bench-{i}",
        policies=[
            PolicyResult(
                Policy("sts", ["version: STSv1", "mode: testing"], domain, [f"*.{domain}"]),
                SessionSummary(rng.randint(0, 5000), failed),
                details,
            )
        ],
    )


def bulk_load(store: Store, count: int, domains: int, chunk: int = 20_000) -> float:
    rng = random.Random(7)
    start = time.perf_counter()
    with store.write() as conn:
        raw = ("0" * 64, 0, "none", b"", "bench", "bulk load", None, None)
        raw_id = writer.insert_raw(
            conn, [(*raw, writer.db_time(datetime(2024, 1, 1)), "accepted")]
        )[0]
    now = writer.db_time(datetime(2024, 6, 1))
    for first in range(0, count, chunk):
        rollups: dict[Any, list[int]] = {}
        reports, policies, failures = [], [], []
        for i in range(first, min(first + chunk, count)):
            rows = build_rows(ParsedReport(_report(i, domains, rng), []))
            reports.append((raw_id, now, rows.dedup_key, rows.content_sha256, *rows.report))
            policies.append(rows.policies)
            failures.append(rows.failures)
            for key, (n, ok, failed) in rows.rollups.items():
                c = rollups.setdefault(key, [0, 0, 0])
                c[0] += n
                c[1] += ok
                c[2] += failed
        with store.write() as conn:
            writer.insert_reports(conn, reports, policies, failures)
            writer.add_rollups(conn, rollups)
    if not store.is_sqlite:  # what autovacuum does to a live database
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - start


def percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    return statistics.median(timings) * 1000, p95 * 1000


def timed(runs: int, call: Callable[[], int]) -> tuple[float, float]:
    call()  # warm-up
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        status = call()
        timings.append(time.perf_counter() - start)
        assert status == 200, status
    return percentiles(timings)


def measure(store: Store, domains: int, runs: int) -> None:
    with store.write() as conn:
        add_user(conn, "bench@example.com", PASSWORD, admin=True)
        token = create_token(conn, "bench@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(1)
    with TestClient(create_app(Settings(), store)) as client:
        form = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        login = {"email": "bench@example.com", "password": PASSWORD, "csrf": csrf.group(1)}
        assert client.post("/login", data=login, follow_redirects=False).status_code == 303

        def series() -> int:
            domain = f"d{rng.randrange(domains)}.example"
            url = f"/api/v1/domains/{domain}/daily?days=90&until={LAST_DAY}"
            return client.get(url, headers=headers).status_code

        def overview() -> int:
            answer = client.get("/?days=30")
            assert answer.text.count("<tr data-domain=") == min(domains, PAGE_SIZE)
            assert f'<strong id="domain-total">{domains:,}</strong>' in answer.text
            return answer.status_code

        def all_domains() -> int:
            answer = client.get("/api/v1/domains?days=30", headers=headers)
            assert len(answer.json()["domains"]) == domains
            return answer.status_code

        reference = timed(runs, lambda: client.get("/healthz").status_code)
        for name, call, target in (
            ("time series API", series, "target p95 < 150 ms"),
            (f"overview page of {domains:,}", overview, "target p95 < 150 ms"),
            (f"API: all {domains:,} domains", all_domains, "no target"),
        ):
            p50, p95 = timed(runs, call)
            print(
                f"  {name:<28} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
                f"(p95 / healthz p95 = {p95 / reference[1]:,.0f}; {target})"
            )
        p50, p95 = reference
        print(f"  {'reference: GET /healthz':<28} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    admin = sa.create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    name = f"tlsrpt_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


def run_backend(name: str, url: str, args: argparse.Namespace) -> None:
    print(f"\n{name}")
    store = open_store(url)
    took = bulk_load(store, args.reports, args.domains)
    print(f"  bulk load {args.reports:,} reports, {args.domains:,} domains: {took:.0f} s")
    measure(store, args.domains, args.runs)
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=1_000_000)
    ap.add_argument("--domains", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--postgres", default=os.environ.get("TLSRPT_TEST_POSTGRES_URL"))
    ap.add_argument("--workdir", type=Path, help="where the SQLite file goes (default: a temp dir)")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    print(f"{args.reports:,} reports, {args.domains:,} domains, {DAYS} days up to {LAST_DAY}")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            run_backend("SQLite", f"sqlite:///{tmp}/dashboard.sqlite3", args)
    if args.postgres:
        with postgres_schema(args.postgres) as url:
            run_backend("PostgreSQL", url, args)
    else:
        print("\nPostgreSQL: skipped (give --postgres URL or set TLSRPT_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
