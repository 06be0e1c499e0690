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
- for information, `GET /api/v1/domains?days=30`: all domains at once;
  a domain page, `GET /domains/D?days=30` (with its failure groups
  explained and its rollout); and `GET /api/v1/domains/D/failures?days=30`
  (every failure group explained), for random domains.

Printed: p50 and p95 of `--runs` calls each, and as reference, measured in
the same run, `GET /healthz` (the framework's own cost per request).
Target: p95 < 150 ms for the first two on both databases.

PostgreSQL runs when `--postgres` or TLSRPT_TEST_POSTGRES_URL gives a URL;
the benchmark works in a schema of its own and drops it at the end. Only
loopback is contacted.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from bulk import ORGS, Placement, bulk_load, percentiles, postgres_schemas
from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.users import add_user, create_token
from tlsrpt.web.app import create_app
from tlsrpt.web.dashboard.routes import PAGE_SIZE

DAYS = 90
LAST_DAY = datetime.now(UTC).date()
FIRST_DAY = LAST_DAY - timedelta(days=DAYS - 1)
PASSWORD = "benchmark password"  # noqa: S105 (a throwaway benchmark user)


def placement(domains: int) -> Placement:
    """About 11 reporters per domain and day over `DAYS` days."""

    def place(i: int) -> tuple[str, date, str]:
        day = FIRST_DAY + timedelta(days=(i // domains) % DAYS)
        return f"d{i % domains}.example", day, ORGS[(i // (domains * DAYS)) % len(ORGS)]

    return place


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

        def domain_page() -> int:
            domain = f"d{rng.randrange(domains)}.example"
            return client.get(f"/domains/{domain}?days=30").status_code

        def failures() -> int:
            domain = f"d{rng.randrange(domains)}.example"
            url = f"/api/v1/domains/{domain}/failures?days=30&until={LAST_DAY}"
            return client.get(url, headers=headers).status_code

        reference = timed(runs, lambda: client.get("/healthz").status_code)
        for name, call, target in (
            ("time series API", series, "target p95 < 150 ms"),
            (f"overview page of {domains:,}", overview, "target p95 < 150 ms"),
            (f"API: all {domains:,} domains", all_domains, "no target"),
            ("domain page", domain_page, "no target"),
            ("API: failures explained", failures, "no target"),
        ):
            p50, p95 = timed(runs, call)
            print(
                f"  {name:<28} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
                f"(p95 / healthz p95 = {p95 / reference[1]:,.0f}; {target})"
            )
        p50, p95 = reference
        print(f"  {'reference: GET /healthz':<28} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")


def run_backend(name: str, url: str, args: argparse.Namespace) -> None:
    print(f"\n{name}")
    store = open_store(url)
    took = bulk_load(store, args.reports, placement(args.domains))
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
        with postgres_schemas(args.postgres) as fresh:
            run_backend("PostgreSQL", fresh(), args)
    else:
        print("\nPostgreSQL: skipped (give --postgres URL or set TLSRPT_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
