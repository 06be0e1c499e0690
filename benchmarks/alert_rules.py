"""Report alert rules: evaluation time per 1,000 new reports with
1,000,000 stored, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/alert_rules.py [--stored 1000000] [--domains 1000]
        [--new 1000] [--postgres URL]

The stored reports are loaded as what the report rules read — the
`daily_rollups` rows and the `failure_details` rows that `--stored`
reports over 90 days make (five organizations a domain and day, about 2.2
reports each, 30 % of them failing with 1-3 failure rows at mx1-3) —
written directly (foreign keys off for the load), without the report and
policy rows, which the rules read only for the reports stored after the
last evaluation (a primary-key range). Then:

1. a full evaluation (every domain: what runs once an hour), timed for
   information;
2. `--new` reports (JSON, through the real ingest pipeline, each for
   another domain, a few with a result type the domain never had) are
   stored, and `evaluate_report_rules` is timed: the domains they touch
   plus those with report alerts open (target: under 1 s);
3. the same call with nothing new (the domains with open alerts only).

PostgreSQL runs when `--postgres` or TLSRPT_TEST_POSTGRES_URL gives a URL
(a schema of its own, dropped at the end). Only loopback is contacted.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bulk import postgres_schemas
from tlsrpt.analysis.alert_settings import AlertSettings
from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.schema import daily_rollups, failure_details
from tlsrpt.watch.alerting import evaluate_report_rules

DAYS = 90
LAST_DAY = date(2026, 11, 30)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ORGS = ["Google LLC", "Microsoft Corporation", "Yahoo", "Mail.ru", "Comcast"]
TYPES = ["certificate-expired", "starttls-not-supported", "validation-failure"]


def _domain(i: int) -> str:
    return f"d{i:04d}.example"


def _rows(
    domains: int, stored: int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    per_org_day = stored / (domains * DAYS * len(ORGS))
    rollups: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    pk = 10_000_000  # failure rows' report keys, far above the reports ingested later
    for d in range(domains):
        domain = _domain(d)
        for n in range(DAYS):
            day = LAST_DAY - timedelta(days=n)
            for org in ORGS:
                reports = max(1, round(rng.gauss(per_org_day, 0.5)))
                ok = rng.randint(100, 5000) * reports
                failed = rng.randint(1, 40) if rng.random() < 0.3 else 0
                base = {"domain": domain, "day": day, "organization": org, "reports": reports}
                rollups.append(
                    {
                        **base,
                        "policy_type": "",
                        "result_type": "",
                        "successful_sessions": ok,
                        "failed_sessions": failed,
                    }
                )
                rollups.append(
                    {
                        **base,
                        "policy_type": "sts",
                        "result_type": "",
                        "successful_sessions": ok,
                        "failed_sessions": failed,
                    }
                )
                for k in range(rng.randint(1, 3) if failed else 0):
                    count = max(1, failed // (k + 1))
                    rollups.append(
                        {
                            **base,
                            "policy_type": "sts",
                            "result_type": TYPES[k],
                            "successful_sessions": 0,
                            "failed_sessions": count,
                        }
                    )
                    pk += 1
                    failures.append(
                        {
                            "report_pk": pk,
                            "policy_ordinal": 0,
                            "ordinal": k,
                            "domain": domain,
                            "day": day,
                            "result_type": TYPES[k],
                            "failed_session_count": count,
                            "sending_mta_ip": f"203.0.113.{rng.randint(1, 254)}",
                            "receiving_mx_hostname": f"mx{rng.randint(1, 3)}.{domain}",
                        }
                    )
    return rollups, failures


def load(store: Store, domains: int, stored: int) -> tuple[int, int, float]:
    rollups, failures = _rows(domains, stored, random.Random(7))
    start = time.perf_counter()
    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if store.is_sqlite:  # outside a transaction, or SQLite ignores it
            raw.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with conn.begin():
            if not store.is_sqlite:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for table, rows in ((daily_rollups, rollups), (failure_details, failures)):
                for first in range(0, len(rows), 50_000):
                    conn.execute(table.insert(), rows[first : first + 50_000])
        if store.is_sqlite:
            raw.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    if not store.is_sqlite:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return len(rollups), len(failures), time.perf_counter() - start


def new_reports(domains: int, count: int, rng: random.Random) -> list[RawInput]:
    out = []
    for i in range(count):
        domain = _domain(i % domains)
        failed = rng.randint(1, 40) if rng.random() < 0.3 else 0
        result = "tlsa-invalid" if rng.random() < 0.02 else rng.choice(TYPES)
        details = [
            {
                "result-type": result,
                "failed-session-count": failed,
                "receiving-mx-hostname": f"mx1.{domain}",
            }
        ]
        body = {
            "organization-name": rng.choice(ORGS),
            "date-range": {
                "start-datetime": f"{LAST_DAY}T00:00:00Z",
                "end-datetime": f"{LAST_DAY}T23:59:59Z",
            },
            "contact-info": "smtp-tls-reporting@org.example",
            "report-id": f"new-{i}",
            "policies": [
                {
                    "policy": {
                        "policy-type": "sts",
                        "policy-string": ["version: STSv1", "mode: testing"],
                        "policy-domain": domain,
                        "mx-host": [f"*.{domain}"],
                    },
                    "summary": {
                        "total-successful-session-count": rng.randint(100, 5000),
                        "total-failure-session-count": failed,
                    },
                    "failure-details": details if failed else [],
                }
            ],
        }
        out.append(RawInput(orjson.dumps(body), SourceInfo("file", f"/bench/new-{i}.json")))
    return out


def _rules(events: list[Any]) -> dict[str, int]:
    return dict(Counter(e.alert["rule"] for e in events))


def run(name: str, url: str, args: argparse.Namespace) -> float:
    """Load, evaluate, print; the seconds of the evaluation after `args.new`
    new reports."""
    store = open_store(url)
    settings = AlertSettings()
    try:
        rollups, failures, seconds = load(store, args.domains, args.stored)
        print(
            f"{name}: loaded {rollups:,} roll-up and {failures:,} failure rows "
            f"({args.stored:,} reports) in {seconds:.1f} s"
        )
        start = time.perf_counter()
        full = evaluate_report_rules(store, NOW, settings)
        print(
            f"{name}: full evaluation, {len(full.domains):,} domains: "
            f"{time.perf_counter() - start:.2f} s, {len(full.events)} events {_rules(full.events)}"
        )
        start = time.perf_counter()
        results = ingest_batch(store, new_reports(args.domains, args.new, random.Random(11)))
        assert all(r.outcome == "accepted" for r in results)
        print(
            f"{name}: ingested {args.new:,} new reports in "
            f"{time.perf_counter() - start:.2f} s (not part of the rules)"
        )
        later = NOW + timedelta(minutes=5)
        start = time.perf_counter()
        new = evaluate_report_rules(store, later, settings)
        elapsed = time.perf_counter() - start
        print(
            f"{name}: evaluation after {args.new:,} new reports: {elapsed:.3f} s "
            f"({len(new.domains):,} domains, {len(new.events)} events {_rules(new.events)}; "
            "target < 1 s per 1,000)"
        )
        start = time.perf_counter()
        idle = evaluate_report_rules(store, later + timedelta(minutes=5), settings)
        print(
            f"{name}: evaluation with nothing new: "
            f"{time.perf_counter() - start:.3f} s ({len(idle.domains)} domains)"
        )
        return elapsed
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--postgres", default=os.environ.get("TLSRPT_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{Path(tmp) / 'alerts.sqlite3'}", args)
    if args.postgres:
        with postgres_schemas(args.postgres) as fresh:
            run("PostgreSQL", fresh(), args)


if __name__ == "__main__":
    main()
