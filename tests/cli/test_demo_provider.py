"""`tlsrpt demo --domains N`: a provider's data set written in bulk (SQLite
and PostgreSQL) holds exactly the generated reports, as ingest would store
them (the roll-ups, the per-domain roll-up), with the stories' verdicts;
the generated reports are valid RFC 8460 reports."""

from __future__ import annotations

from collections import Counter
from datetime import date

import orjson
import pytest
import sqlalchemy as sa

from tlsrpt.cli import main
from tlsrpt.demo_provider import load_provider, profiles, provider_domains, provider_reports
from tlsrpt.report import parse_input
from tlsrpt.report.serialize import to_json
from tlsrpt.store import reads
from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import ALL, daily_rollups, domain_days
from tlsrpt.store.users import User

END = date(2026, 11, 28)
DOMAINS, DAYS = 40, 30


def _generated() -> list[object]:
    people = profiles(provider_domains(DOMAINS), DAYS, 8460)
    return [r for i in range(DAYS) for r in provider_reports(people, DAYS, END, 8460, i)]


def test_provider_reports_are_valid_and_varied() -> None:
    reports = _generated()
    assert len({r.report_id for r in reports}) == len(reports)  # type: ignore[attr-defined]
    for report in reports[::97]:
        parsed = parse_input(to_json(report), strict=True)  # type: ignore[arg-type]
        assert parsed.reports[0].report == report
    stories = Counter(p.story for p in profiles(provider_domains(2000), DAYS, 1))
    assert set(stories) == {"clean", "expired", "starttls", "mx-fixed", "dane", "new"}
    assert len(set(provider_domains(5000))) == 5000


def test_demo_domains_fills_in_bulk(
    db_url: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    args = ["demo", "--db", db_url, "--domains", str(DOMAINS), "--days", str(DAYS)]
    args += ["--end", END.isoformat(), "--json"]
    assert main(args) == 0
    out = orjson.loads(capsysbinary.readouterr().out)
    assert out == {"database": out["database"], "domains": DOMAINS, "accepted": len(_generated())}
    assert main(args) == 2
    assert b"already holds reports" in capsysbinary.readouterr().err
    assert main(["demo", "--db", db_url, "--domains", "0", "--force"]) == 2
    store = open_store(db_url)
    admin = User(0, "admin", True)
    with store.read() as conn:
        listed = reads.overview(conn, admin, reads.period_of(DAYS, END))
        r, d = daily_rollups.c, domain_days.c
        from_rollups = conn.execute(
            sa.select(sa.func.sum(r.reports), sa.func.sum(r.successful_sessions)).where(
                r.policy_type == ALL, r.result_type == ALL
            )
        ).one()
        per_domain = conn.execute(
            sa.select(sa.func.sum(d.reports), sa.func.sum(d.successful_sessions)).where(
                d.policy_type == ALL
            )
        ).one()
    store.close()
    assert [o.analysis.domain for o in listed] == sorted(provider_domains(DOMAINS))
    assert sum(o.analysis.reports for o in listed) == len(_generated())
    assert tuple(per_domain) == tuple(from_rollups)
    verdicts = Counter(str(o.readiness.verdict) for o in listed)
    assert verdicts["not-ready"] >= 1 and verdicts["insufficient-data"] >= 1, verdicts


def test_the_fill_leaves_planner_statistics(db_url: str) -> None:
    """PostgreSQL plans the dashboard's reads from statistics of the filled
    tables, not of the empty ones (VACUUM ANALYZE after the bulk fill)."""
    store = open_store(db_url)
    try:
        load_provider(store, 3, 2, END)
        if store.is_sqlite:
            return
        with store.read() as conn:
            analyzed = conn.execute(
                sa.text(
                    "SELECT relname, last_analyze IS NOT NULL, last_vacuum IS NOT NULL "
                    "FROM pg_stat_user_tables WHERE schemaname = current_schema() "
                    "AND relname IN ('daily_rollups', 'domain_days', 'reports')"
                )
            ).all()
    finally:
        store.close()
    assert sorted(analyzed) == [
        (t, True, True) for t in ("daily_rollups", "domain_days", "reports")
    ]
