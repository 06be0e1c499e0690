"""`domain_days` (SQLite and PostgreSQL): ingest keeps it equal to the
daily roll-ups summed over organizations, in the same transaction; the
migration's rebuild gives the same rows; sums past 2^63-1 of a store
written before ingest refused them continue in further parts, exactly;
ingest refuses a report that would carry a domain's day past 2^63-1."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from tlsrpt.demo import load_demo
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.report import DEFAULT_LIMITS
from tlsrpt.store.domain_days import BIGINT_MAX, rebuild, split
from tlsrpt.store.engine import Store
from tlsrpt.store.schema import ALL, daily_rollups, domain_days, reported_domains

FILE = SourceInfo("file", "/reports/in.json")


def _from_rollups(store: Store) -> dict[tuple[Any, ...], tuple[int, ...]]:
    r = daily_rollups.c
    out: dict[tuple[Any, ...], list[int]] = {}
    with store.read() as conn:
        for ptype, domain, day, *counts in conn.execute(
            sa.select(r.policy_type, r.domain, r.day, r.reports)
            .add_columns(r.successful_sessions, r.failed_sessions)
            .where(r.result_type == ALL)
        ):
            got = out.setdefault((ptype, domain, day), [0, 0, 0])
            for i, n in enumerate(counts):
                got[i] += int(n)
    return {k: tuple(v) for k, v in out.items()}


def _stored(store: Store) -> dict[tuple[Any, ...], tuple[int, ...]]:
    out: dict[tuple[Any, ...], list[int]] = {}
    with store.read() as conn:
        for ptype, domain, day, _part, *counts in conn.execute(sa.select(domain_days)):
            got = out.setdefault((ptype, domain, day), [0, 0, 0])
            for i, n in enumerate(counts):
                got[i] += int(n)
    return {k: tuple(v) for k, v in out.items()}


def test_ingest_and_rebuild_agree_with_the_rollups(store: Store, make: Any) -> None:
    load_demo(store, date(2026, 11, 28), 10)
    for org in ("Org A", "Org B"):  # one domain and day from two organizations
        data = make.json(f"r-{org}", org=org, policies=[make.policy(ok=7, failed=2)])
        assert ingest(store, data, FILE).outcome == "accepted"
    expected = _from_rollups(store)
    assert len(expected) > 50
    assert _stored(store) == expected
    with store.read() as conn:
        names = set(conn.execute(sa.select(reported_domains.c.domain)).scalars())
    assert names == {domain for _, domain, _ in expected}
    assert expected[ALL, "example.com", date(2024, 3, 1)] == (2, 14, 4)
    assert expected["sts", "example.com", date(2024, 3, 1)] == (2, 14, 4)
    with store.write() as conn:
        conn.execute(sa.delete(domain_days))
        assert rebuild(conn) == len(expected)
    assert _stored(store) == expected


def test_split_keeps_every_part_in_64_bits() -> None:
    assert split(0) == [0]
    assert split(BIGINT_MAX) == [BIGINT_MAX]
    assert split(3 * BIGINT_MAX + 5) == [BIGINT_MAX] * 3 + [5]


def test_rebuild_continues_huge_sums_in_parts(store: Store, make: Any) -> None:
    for org in ("Org A", "Org B", "Org C"):
        data = make.json(f"r-{org}", org=org, policies=[make.policy(ok=1)])
        assert ingest(store, data, FILE).outcome == "accepted"
    with store.write() as conn:
        conn.exec_driver_sql(f"UPDATE daily_rollups SET successful_sessions = {BIGINT_MAX}")
        rebuild(conn, ["example.com"])
        parts = conn.execute(
            sa.select(domain_days.c.part, domain_days.c.successful_sessions)
            .where(domain_days.c.policy_type == ALL)
            .order_by(domain_days.c.part)
        ).all()
    assert [tuple(p) for p in parts] == [(0, BIGINT_MAX), (1, BIGINT_MAX), (2, BIGINT_MAX)]
    assert _stored(store) == _from_rollups(store)


@pytest.mark.parametrize("column", ["successful_sessions", "failed_sessions"])
def test_a_domain_day_past_2_63_is_refused(store: Store, make: Any, column: str) -> None:
    """Each organization's roll-up row could still take the report; the
    domain's day, all organizations together, could not."""
    first = make.json("first", org="Org A", policies=[make.policy(ok=1, failed=1)])
    assert ingest(store, first, FILE).outcome == "accepted"
    with store.write() as conn:
        conn.exec_driver_sql(f"UPDATE domain_days SET {column} = {BIGINT_MAX}")
    bound = DEFAULT_LIMITS.max_sessions
    more = make.json("more", org="Org B", policies=[make.policy(ok=bound // 2, failed=1)])
    refused = ingest(store, more, FILE)
    assert (refused.outcome, refused.reason_code) == ("quarantined", "count-overflow")
    assert "domain and day" in (refused.reason or "")
    with store.read() as conn:  # nothing of it written: the per-organization roll-ups neither
        orgs = conn.execute(sa.select(daily_rollups.c.organization).distinct()).scalars()
        assert list(orgs) == ["Org A"]
