"""`domains_reported` (SQLite and PostgreSQL): the domains of the reports
stored in a key range, none outside it; None once retention removed a
report of the range (its domains are not known any more)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store import reads
from tlsrpt.store.domain_changes import domains_reported
from tlsrpt.store.engine import Store
from tlsrpt.store.retention import Cutoffs, prune

FILE = SourceInfo("file", "/reports/in.json")


def _store(store: Store, make: Any, rid: str, domains: list[str], day: str) -> int:
    """Stores a report naming `domains`; its key."""
    policies = [make.policy(d, ok=5, failed=1) for d in domains]
    assert ingest(store, make.json(rid, day=day, policies=policies), FILE).outcome == "accepted"
    with store.read() as conn:
        return reads.last_report_pk(conn)


def _reported(store: Store, after: int, upto: int) -> set[str] | None:
    with store.read() as conn:
        return domains_reported(conn, after, upto)


def test_the_domains_of_the_reports_in_the_range(store: Store, make: Any) -> None:
    first = _store(store, make, "r-1", ["a.example", "b.example"], "2024-03-01")
    second = _store(store, make, "r-2", ["c.example"], "2024-03-02")
    third = _store(store, make, "r-3", ["b.example", "d.example"], "2024-03-02")
    assert first < second < third
    assert _reported(store, 0, third) == {"a.example", "b.example", "c.example", "d.example"}
    assert _reported(store, first, third) == {"b.example", "c.example", "d.example"}
    assert _reported(store, first, second) == {"c.example"}
    assert _reported(store, third, third) == set()
    assert _reported(store, third, first) == set()


def test_none_once_a_report_of_the_range_is_removed(store: Store, make: Any) -> None:
    kept = _store(store, make, "r-1", ["a.example"], "2024-03-01")
    old = _store(store, make, "r-old", ["old.example"], "2024-01-05")  # late, and old
    last = _store(store, make, "r-2", ["c.example"], "2024-03-02")
    removed = prune(store, Cutoffs(reports=datetime(2024, 2, 1), quarantine=None))
    assert removed["reports"] == 1
    assert _reported(store, kept, last) is None  # old.example's counts stay; unknown here
    assert _reported(store, 0, last) is None
    assert _reported(store, old, last) == {"c.example"}
    assert _reported(store, 0, kept) == {"a.example"}
