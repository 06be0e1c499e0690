"""Shared by the benchmarks: synthetic reports, a bulk loader, PostgreSQL
schemas of their own, percentiles."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tlsrpt.demo_provider import stand_in
from tlsrpt.ingest.rows import build_rows
from tlsrpt.report import (
    DateRange,
    FailureDetail,
    ParsedReport,
    Policy,
    PolicyResult,
    Report,
    Summary,
)
from tlsrpt.store import writer
from tlsrpt.store.engine import Store
from tlsrpt.store.pgschema import temporary_schema
from tlsrpt.store.rows import ReportOrigin

ORGS = ["Google Inc.", "Microsoft Corporation", "Mail.ru", "Yahoo", "Comcast"] + [
    f"Provider {i}" for i in range(7)
]
FAILURE_TYPES = ["certificate-expired", "starttls-not-supported", "validation-failure"]

# (domain, UTC day, organization) of the i-th report
Placement = Callable[[int], tuple[str, date, str]]


def synthetic_report(
    i: int, domain: str, day: date, org: str, rng: random.Random, prefix: str = "bulk"
) -> Report:
    """A report as the parser would produce it: one sts policy, 30 % of the
    reports with 1-3 failure rows."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    failed = rng.randint(1, 40) if rng.random() < 0.3 else 0
    details = [
        FailureDetail(
            result_type=FAILURE_TYPES[k],
            failed_session_count=max(1, failed // (k + 1)),
            sending_mta_ip=f"203.0.113.{rng.randint(1, 254)}",
            receiving_mx_hostname=f"mx{rng.randint(1, 3)}.{domain}",
            receiving_ip=f"198.51.100.{rng.randint(1, 254)}",
        )
        for k in range(rng.randint(1, 3) if failed else 0)
    ]
    return Report(
        organization_name=org,
        date_range=DateRange(start, start + timedelta(seconds=86399)),
        contact_info="smtp-tls-reporting@org.example",
        report_id=f"{prefix}-{i}",
        policies=[
            PolicyResult(
                Policy("sts", ["version: STSv1", "mode: testing"], domain, [f"*.{domain}"]),
                Summary(rng.randint(0, 5000), failed),
                details,
            )
        ],
    )


def bulk_load(store: Store, count: int, place: Placement, chunk: int = 20_000) -> float:
    """What exactly is loaded: `count` synthetic reports placed by `place`,
    turned into rows by the ingest code (`build_rows`), written with the
    ingest writer (`insert_reports`, `add_rollups`) in transactions of
    `chunk`. Skipped: parsing and the raw inputs (all reports point at one
    stand-in raw input row) — neither is read by what is timed."""
    rng = random.Random(7)
    start = time.perf_counter()
    raw_id = stand_in(store, date(2023, 12, 31))
    origin = ReportOrigin(raw_id=raw_id, received_at=writer.db_time(datetime(2024, 6, 1)))
    for first in range(0, count, chunk):
        rollups: dict[Any, list[int]] = {}
        origins: list[ReportOrigin] = []
        reports, policies, failures = [], [], []
        for i in range(first, min(first + chunk, count)):
            report = synthetic_report(i, *place(i), rng)
            rows = build_rows(ParsedReport(report, []))
            origins.append(origin)
            reports.append(rows.report)
            policies.append(rows.policies)
            failures.append(rows.failures)
            for key, (n, ok, failed) in rows.rollups.items():
                c = rollups.setdefault(key, [0, 0, 0])
                c[0] += n
                c[1] += ok
                c[2] += failed
        with store.write() as conn:
            writer.insert_reports(conn, origins, reports, policies, failures)
            writer.add_rollups(conn, rollups)
    if not store.is_sqlite:  # what autovacuum does to a live database
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - start


@contextmanager
def postgres_schemas(base: str) -> Iterator[Callable[[], str]]:
    """Yields a function making fresh schemas on the server (each a URL);
    all are dropped at the end."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(temporary_schema(base, "tlsrpt_bench"))


def percentiles(timings: list[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds."""
    timings = sorted(timings)
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    return statistics.median(timings) * 1000, p95 * 1000
