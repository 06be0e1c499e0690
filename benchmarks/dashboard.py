"""Overview page and domain list with a provider's number of domains, SQLite
and PostgreSQL, and how their cost grows with the number of domains.

    .venv/bin/python benchmarks/dashboard.py [--domains 1000 10000] [--days 90]
        [--postgres URL] [--workdir DIR] [--runs 30] [--cold 5] [--no-sqlite]
        [--keep NAME]

For each size of `--domains`, a fresh database is filled with the data set
of `tlsrpt demo --domains N --days D` (`tlsrpt.demo_provider`: about 3.3
reports per domain and day from five senders, with failures; about
3,000,000 reports for 10,000 domains over 90 days), written in bulk with the
ingest code. Then, through the real app in process (ASGI, no network), with
an admin's token or session:

- warm: `GET /?days=30`, the overview's first page (50 domains by name:
  totals, sparkline, readiness, alerts, certificate expiry of each, and the
  total), once the verdict counts of all domains are kept;
  `GET /api/v1/domains?days=30&limit=50`, the same page from the API;
  for information, the API's page sorted by failure rate, a domain's
  daily series, its page (failure groups explained, rollout steps) and
  its explained failures from the API;
- first view after a restart: `--cold` times, a new Python process opens
  the store (a new engine, new connections) and the app, and times its
  first `GET /?days=30` and then its first API page. The operating
  system's file cache stays warm (dropping it needs root).

Printed: p50 and p95 per call, the first views, and the growth of each p95
from the smallest size to the largest, measured in the same run. Targets:
warm p95 < 150 ms, first view < 500 ms, growth <= 1.5x from 1,000 to
10,000 domains.

PostgreSQL runs when `--postgres` or TLSRPT_TEST_POSTGRES_URL gives a URL;
the benchmark works in schemas of its own and drops them at the end. Only
loopback is contacted.

`--keep NAME` keeps the filled databases (SQLite: NAME-N-D.sqlite3 in
`--workdir` or the current directory; PostgreSQL: schema NAME_N_D) and a
later run with the same NAME reuses each one that holds the N domains'
D days up to today, rather than filling it again (a 10,000-domain fill
takes 10-25 minutes). Drop them by hand when done
(`DROP SCHEMA NAME_N_D CASCADE`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from bulk import percentiles, postgres_schemas
from tlsrpt.demo_provider import load_provider
from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.pgschema import schema_url
from tlsrpt.store.schema import domain_days, reported_domains
from tlsrpt.store.url import normalize_url
from tlsrpt.store.users import add_user, create_token, get_user, start_session
from tlsrpt.web.app import create_app
from tlsrpt.web.dashboard.auth import SESSION_COOKIE
from tlsrpt.web.dashboard.routes import PAGE_SIZE

TODAY = datetime.now(UTC).date()
USER = "bench@example.com"
PASSWORD = "benchmark password"  # noqa: S105 (a throwaway benchmark user)
OVERVIEW = "/?days=30"
API_PAGE = f"/api/v1/domains?days=30&limit={PAGE_SIZE}"

# The first views, in a new process: given the database URL, a session
# cookie and a token, prints the milliseconds of each.
COLD = """
import json, sys, time
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tlsrpt.settings import Settings
from tlsrpt.store.engine import open_store
from tlsrpt.web.app import create_app
url, cookie, token = sys.argv[1:4]
store = open_store(url)
with TestClient(create_app(Settings(reverse_dns=False), store)) as client:  # no PTR lookups
    client.cookies.set("tlsrpt_session", cookie)
    start = time.perf_counter()
    page = client.get("/?days=30")
    overview = time.perf_counter() - start
    start = time.perf_counter()
    bearer = {"Authorization": "Bearer " + token}
    api = client.get("/api/v1/domains?days=30&limit=50", headers=bearer)
    listed = time.perf_counter() - start
assert page.status_code == api.status_code == 200, (page.status_code, api.status_code)
print(json.dumps({"overview": overview * 1000, "api": listed * 1000}))
"""


def timed(runs: int, call: Callable[[], int]) -> tuple[float, float]:
    call()  # warm-up
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        status = call()
        timings.append(time.perf_counter() - start)
        assert status == 200, status
    return percentiles(timings)


def credentials(store: Store) -> tuple[str, str]:
    """An admin's (session cookie, API token)."""
    with store.write() as conn:
        if get_user(conn, USER) is None:  # a kept database has it already
            add_user(conn, USER, PASSWORD, admin=True)
        token = create_token(conn, USER)
        user = get_user(conn, USER)
        assert user is not None
        cookie, _ = start_session(conn, user)
    return cookie, token


def warm(store: Store, domains: int, cookie: str, token: str, runs: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, float] = {}
    # reverse DNS off: no lookups leave loopback
    with TestClient(create_app(Settings(reverse_dns=False), store)) as client:
        client.cookies.set(SESSION_COOKIE, cookie)
        deadline = time.monotonic() + 1800
        while 'id="counts-pending"' in client.get(OVERVIEW).text:  # verdicts of all, kept
            assert time.monotonic() < deadline
            time.sleep(0.5)

        def overview() -> int:
            answer = client.get(OVERVIEW)
            assert answer.text.count("<tr data-domain=") == min(domains, PAGE_SIZE)
            assert f'<strong id="domain-total">{domains:,}</strong>' in answer.text
            return answer.status_code

        def api(url: str) -> Callable[[], int]:
            def call() -> int:
                answer = client.get(url, headers=headers)
                assert len(answer.json()["domains"]) == min(domains, PAGE_SIZE)
                return answer.status_code

            return call

        def series() -> int:
            url = f"/api/v1/domains/{first}/daily?days=90&until={TODAY}"
            return client.get(url, headers=headers).status_code

        def failures_of(domain: str) -> Callable[[], int]:
            url = f"/api/v1/domains/{domain}/failures?days=30"
            return lambda: client.get(url, headers=headers).status_code

        def page_of(domain: str) -> Callable[[], int]:
            return lambda: client.get(f"/domains/{domain}?days=30").status_code

        first = client.get(API_PAGE, headers=headers).json()["domains"][0]["domain"]
        calls: list[tuple[str, Callable[[], int]]] = [
            ("overview page", overview),
            ("API domain page", api(API_PAGE)),
            ("API page by failure rate", api(f"{API_PAGE}&sort=failure_rate")),
            ("API daily series", series),
            ("domain page (failures explained, rollout)", page_of(first)),
            ("API failures explained", failures_of(first)),
            ("reference: GET /healthz", lambda: client.get("/healthz").status_code),
        ]
        for name, call in calls:
            p50, p95 = timed(runs, call)
            out[name] = p95
            print(f"    {name:<26} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    return out


def cold(url: str, cookie: str, token: str, times: int) -> dict[str, float]:
    """The slowest first views of `times` new processes."""
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": f"{here}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    seen: dict[str, list[float]] = {"overview": [], "api": []}
    for _ in range(times):
        done = subprocess.run(
            [sys.executable, "-c", COLD, url, cookie, token],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        for name, ms in json.loads(done.stdout).items():
            seen[name].append(ms)
    for name, values in seen.items():
        print(
            f"    first {name} view in a new process: "
            f"median {sorted(values)[len(values) // 2]:6.1f} ms, max {max(values):6.1f} ms"
        )
    return {name: max(values) for name, values in seen.items()}


def filled(store: Store, domains: int, days: int) -> bool:
    """The store holds the data set of `domains` over `days` up to today
    (False: it is empty; another data set is refused)."""
    d = domain_days.c
    with store.read() as conn:
        names = conn.execute(sa.select(sa.func.count()).select_from(reported_domains)).scalar()
        first, last = conn.execute(sa.select(sa.func.min(d.day), sa.func.max(d.day))).one()
    if names == domains and (first, last) == (TODAY - timedelta(days=days - 1), TODAY):
        return True
    if names:
        raise SystemExit(f"{store.display_url} holds another data set: drop it, or another --keep")
    return False


def run_size(url: str, domains: int, args: argparse.Namespace) -> dict[str, float]:
    store = open_store(url)
    if args.keep and filled(store, domains, args.days):
        print(f"  {domains:,} domains x {args.days} days: the kept database, filled before")
    else:
        start = time.perf_counter()
        reports = load_provider(store, domains, args.days, TODAY)  # then VACUUM ANALYZE
        print(
            f"  {domains:,} domains x {args.days} days: {reports:,} reports loaded in "
            f"{time.perf_counter() - start:.0f} s"
        )
    cookie, token = credentials(store)
    figures = warm(store, domains, cookie, token, args.runs)
    store.close()
    for name, ms in cold(url, cookie, token, args.cold).items():
        figures[f"first {name} view"] = ms
    return figures


def run_backend(name: str, urls: Callable[[int], str], args: argparse.Namespace) -> None:
    print(f"\n{name}")
    sizes = sorted(args.domains)
    figures = {n: run_size(urls(n), n, args) for n in sizes}
    if len(sizes) > 1:
        small, large = figures[sizes[0]], figures[sizes[-1]]
        print(f"  growth of p95 from {sizes[0]:,} to {sizes[-1]:,} domains (target <= 1.5x):")
        for key in small:
            print(f"    {key:<26} {large[key] / small[key]:5.2f}x")


def kept_schema(base: str, schema: str) -> str:
    """The URL of `schema` on the server of `base`, created if missing, kept."""
    if not schema.replace("_", "").isalnum():
        raise SystemExit(f"--keep: {schema!r} is not a plain schema name")
    admin = sa.create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    admin.dispose()
    return schema_url(base, schema)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domains", type=int, nargs="+", default=[1_000, 10_000])
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--cold", type=int, default=5, help="new processes timed per size")
    ap.add_argument("--postgres", default=os.environ.get("TLSRPT_TEST_POSTGRES_URL"))
    ap.add_argument("--workdir", type=Path, help="where the SQLite files go (default: a temp dir)")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--keep", metavar="NAME", help="keep the filled databases; reuse kept ones")
    args = ap.parse_args()
    print(f"domains {args.domains}, {args.days} days up to {TODAY}")
    if not args.no_sqlite:
        if args.keep:
            where = (args.workdir or Path.cwd()).resolve()
            run_backend(
                "SQLite", lambda n: f"sqlite:///{where}/{args.keep}-{n}-{args.days}.sqlite3", args
            )
        else:
            with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
                run_backend("SQLite", lambda n: f"sqlite:///{tmp}/dashboard-{n}.sqlite3", args)
    if args.postgres and args.keep:
        run_backend(
            "PostgreSQL", lambda n: kept_schema(args.postgres, f"{args.keep}_{n}_{args.days}"), args
        )
    elif args.postgres:
        with postgres_schemas(args.postgres) as fresh:
            run_backend("PostgreSQL", lambda _n: fresh(), args)
    else:
        print("\nPostgreSQL: skipped (give --postgres URL or set TLSRPT_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
