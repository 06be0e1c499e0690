"""The order by failure rate kept per process (`tlsrpt.web.rate_order`),
SQLite and PostgreSQL: always the order summed afresh from the same
snapshot — after each report stored (new domains too), for another list
of names or another period, after retention removed a report added since
the order was kept, and for a page whose snapshot is older than the kept
totals."""

from __future__ import annotations

from datetime import date, datetime

import orjson
from tests.conftest import db_url  # noqa: F401 (both backends; tests/web's is SQLite only)

from tlsrpt.analysis.period import Period
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store.domain_list import Ordered, period_totals, rate_order
from tlsrpt.store.engine import Store
from tlsrpt.store.retention import Cutoffs, prune
from tlsrpt.web.rate_order import RateOrders

FILE = SourceInfo("file", "/reports/in.json")
MARCH = Period(date(2024, 1, 1), date(2024, 3, 31))
NAMES = ["a.example", "b.example", "c.example", "d.example", "e.example"]


def _report(store: Store, rid: str, domain: str, ok: int, failed: int, day: str) -> None:
    report = {
        "organization-name": "Example Org",
        "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
        "contact-info": "tls-reports@org.example",
        "report-id": rid,
        "policies": [
            {
                "policy": {"policy-type": "no-policy-found", "policy-domain": domain},
                "summary": {
                    "total-successful-session-count": ok,
                    "total-failure-session-count": failed,
                },
            }
        ],
    }
    assert ingest(store, orjson.dumps(report), FILE).outcome == "accepted"


def _check(store: Store, orders: RateOrders, names: list[str], period: Period = MARCH) -> Ordered:
    """The kept order, checked against the order summed afresh."""
    with store.read() as conn:
        kept = orders(conn, names, period)
        assert kept == rate_order(names, period_totals(conn, names, period))
    return kept


def _first(order: Ordered) -> str:
    return order[0][1]


def test_exact_after_every_report(store: Store) -> None:
    _report(store, "r-a", "a.example", 10, 0, "2024-03-01")
    _report(store, "r-b", "b.example", 5, 5, "2024-03-01")
    _report(store, "r-c", "c.example", 9, 1, "2024-03-02")
    orders = RateOrders()
    order = _check(store, orders, NAMES)
    assert [name for _, name in order] == ["b.example", "c.example", "a.example", *NAMES[3:]]
    _report(store, "r-a2", "a.example", 0, 30, "2024-03-03")  # a's rate: 30 of 40
    assert _first(_check(store, orders, NAMES)) == "a.example"
    _report(store, "r-e", "e.example", 0, 1, "2024-03-03")  # a domain new to the totals
    assert _first(_check(store, orders, NAMES)) == "e.example"
    _report(store, "r-late", "b.example", 0, 500, "2023-12-31")  # outside the period
    order = _check(store, orders, NAMES)
    assert [name for _, name in order] == ["e.example", "a.example", "b.example", *NAMES[2:4]]
    order = _check(store, orders, NAMES, Period(date(2023, 12, 1), MARCH.end))
    assert [name for _, name in order] == ["e.example", "b.example", "a.example", *NAMES[2:4]]
    _check(store, orders, ["a.example", "c.example"])  # another list, the same totals
    assert _first(_check(store, orders, NAMES)) == "e.example"


def test_exact_after_retention_removed_a_report_added_since(store: Store) -> None:
    _report(store, "r-a", "a.example", 10, 0, "2024-03-01")
    _report(store, "r-b", "b.example", 5, 5, "2024-03-01")
    orders = RateOrders()
    assert _first(_check(store, orders, NAMES)) == "b.example"
    _report(store, "r-old", "d.example", 0, 9, "2024-01-05")  # late: retention removes it
    _report(store, "r-c", "c.example", 9, 1, "2024-03-02")  # the highest key stays
    removed = prune(store, Cutoffs(reports=datetime(2024, 2, 1), quarantine=None))
    assert removed["reports"] == 1
    assert _first(_check(store, orders, NAMES)) == "d.example"  # its counts stay


def test_a_page_of_an_older_snapshot_gets_its_own_order(store: Store) -> None:
    _report(store, "r-a", "a.example", 10, 0, "2024-03-01")
    _report(store, "r-b", "b.example", 5, 5, "2024-03-01")
    orders = RateOrders()
    with store.read() as older:
        before = orders(older, NAMES, MARCH)  # the snapshot starts here
        _report(store, "r-c", "c.example", 0, 9, "2024-03-02")
        assert _first(_check(store, orders, NAMES)) == "c.example"
        again = orders(older, NAMES, MARCH)
        assert again == rate_order(NAMES, period_totals(older, NAMES, MARCH))
        if store.is_sqlite:  # a snapshot; PostgreSQL's reads see each commit
            assert again == before and _first(again) == "b.example"
    assert _first(_check(store, orders, NAMES)) == "c.example"
