"""`tlsrpt.store.keyed`: (domain, day) pairs as a table of one bound
parameter, joined with stored rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from tlsrpt.store.alert_reads import any_of
from tlsrpt.store.engine import Store
from tlsrpt.store.keyed import chunks, keyed_days
from tlsrpt.store.schema import ALL, domain_days


def _day_rows(store: Store, rows: list[tuple[str, date, int]]) -> None:
    with store.write() as conn:
        conn.execute(
            sa.insert(domain_days),
            [
                {
                    "policy_type": ALL,
                    "domain": domain,
                    "day": day,
                    "part": 0,
                    "reports": 1,
                    "successful_sessions": ok,
                    "failed_sessions": 0,
                }
                for domain, day, ok in rows
            ],
        )


def test_pairs_join_stored_days(store: Store) -> None:
    d = domain_days.c
    _day_rows(
        store,
        [
            ("a.example", date(2026, 1, 1), 1),
            ("a.example", date(2026, 1, 5), 2),
            ("b.example", date(2026, 1, 3), 4),
            ("b.example", date(2026, 1, 9), 8),
            ("c.example", date(2026, 1, 9), 16),
        ],
    )
    pairs = [
        ("a.example", date(2026, 1, 2)),
        ("b.example", date(2026, 1, 3)),
        ("x.example", date(2026, 1, 1)),
    ]
    with store.read() as conn:
        k = keyed_days(conn, pairs)
        on_or_after = (
            sa.select(d.domain, sa.func.sum(d.successful_sessions))
            .select_from(k)
            .join(domain_days, sa.and_(d.domain == k.c.domain, d.day >= k.c.day))
            .group_by(d.domain)
        )
        assert {dom: int(n) for dom, n in conn.execute(on_or_after)} == {
            "a.example": 2,
            "b.example": 12,
        }
        same_day = sa.select(d.domain, d.day).join(
            k, sa.and_(d.domain == k.c.domain, d.day == k.c.day)
        )
        assert conn.execute(same_day).all() == [("b.example", date(2026, 1, 3))]
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(keyed_days(conn, []))).scalar() == 0
        )
        named = sa.select(d.domain).where(any_of(conn, d.domain, ["c.example", "a.example"]))
        assert sorted(conn.execute(named.distinct()).scalars()) == ["a.example", "c.example"]


def test_chunks(store: Store) -> None:
    items = list(range(12_345))
    with store.read() as conn:
        sizes = [len(c) for c in chunks(conn, items)]
        assert [x for c in chunks(conn, items) for x in c] == items
    assert sizes == ([400] * 30 + [345] if store.is_sqlite else [10_000, 2_345])
