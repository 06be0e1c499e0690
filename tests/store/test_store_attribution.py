"""The attribution reads (tlsrpt.store.attribution_reads) and what they
feed: the readiness verdict's DANE line counts the sessions attributed to
the domain. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

from tlsrpt.analysis.period import Period
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store.attribution_reads import (
    AttributionRow,
    attribution_rows,
    mx_owners,
    registered_among,
)
from tlsrpt.store.engine import Store
from tlsrpt.store.readiness_reads import domain_readiness

CUSTOMER, MX = "customer.example", "mx1.provider.example"
DAY = date(2026, 11, 20)  # the fixture report's day
SMTP = SourceInfo("smtp", "127.0.0.1 to <tlsrpt@rua.example>")
HTTP = SourceInfo("http", "127.0.0.1:1")


def _lines(store: Store, domain: str) -> dict[str, Any]:
    with store.read() as conn:
        verdict = domain_readiness(conn, domain, DAY)
    return {r.check: r.value for r in verdict.reasons if r.check in ("dane", "no-policy")}


def test_the_dane_line_counts_attributed_sessions(store: Store, postfix: Any) -> None:
    ingest(store, postfix.mail(CUSTOMER, postfix.report("mailed")), SMTP)
    assert _lines(store, CUSTOMER) == {"dane": 41, "no-policy": 3}
    assert _lines(store, MX) == {}
    postfix.register(store, CUSTOMER, [MX])  # now a report POSTed without a domain
    ingest(store, postfix.report("posted"), HTTP)
    assert _lines(store, CUSTOMER) == {"dane": 82, "no-policy": 3}  # its nameless policy: ""
    assert _lines(store, "") == {"no-policy": 3}


def test_without_attribution_the_sessions_stay_where_the_report_put_them(
    store: Store, postfix: Any
) -> None:
    ingest(store, postfix.report("posted"), HTTP)
    assert _lines(store, CUSTOMER) == {}
    assert _lines(store, MX) == {"dane": 41}


def test_attribution_rows_group_by_type_reported_domain_and_how(store: Store, postfix: Any) -> None:
    ingest(store, postfix.mail(CUSTOMER, postfix.report("a"), postfix.report("b")), SMTP)
    with store.read() as conn:
        rows = attribution_rows(conn, CUSTOMER, Period(DAY, DAY))
        before = attribution_rows(conn, CUSTOMER, Period(date(2026, 11, 1), date(2026, 11, 19)))
    assert rows == [
        AttributionRow("tlsa", MX, "report-domain-header", 2, 80, 2),
        AttributionRow("no-policy-found", None, "report-domain-header", 2, 6, 0),
    ]
    assert before == []


def test_registry_reads(store: Store, postfix: Any) -> None:
    postfix.register(store, CUSTOMER, [MX, "mx2.provider.example"])
    postfix.register(store, "other.example", [MX])
    postfix.register(store, "third.example", [])
    hostile = ["", "\x00", "x" * 300, "%", "_x1.provider.example", 'mx1"', "mx1.provider.exampl"]
    with store.read() as conn:
        assert registered_among(conn, [CUSTOMER, MX, *hostile]) == {CUSTOMER}
        assert mx_owners(conn, [MX, "mx2.provider.example", *hostile]) == {
            MX: {CUSTOMER, "other.example"},
            "mx2.provider.example": {CUSTOMER},
        }
        many = [f"mx{n}.unknown.example" for n in range(250)]  # more than one statement
        assert mx_owners(conn, [*many, MX]) == {MX: {CUSTOMER, "other.example"}}
