"""Ingest files each policy result under the domain its owner knows, and
stores how (tlsrpt.report.attribution), on SQLite and PostgreSQL: the
mailed Postfix/sys4 report, the per-domain receiver path, the MX hosts of
registered domains as the watcher last saw them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from tlsrpt.ingest.model import RECEIVER_DOMAIN, SourceInfo, UnsignedRelease
from tlsrpt.ingest.pipeline import ingest, reprocess
from tlsrpt.store.engine import Store
from tlsrpt.store.schema import daily_rollups, failure_details, policy_results
from tlsrpt.store.watch import SnapshotSummary, record_snapshot
from tlsrpt.watch.snapshot import canonical

CUSTOMER = "customer.example"
MX = "mx1.provider.example"
SMTP = SourceInfo("smtp", "127.0.0.1 from <tlsrpt@mail.sender.example> to <tlsrpt@rua.example>")
FILE = SourceInfo("file", "/spool/report.json")


def _policies(store: Store) -> list[tuple[Any, ...]]:
    p = policy_results
    with store.read() as conn:
        query = sa.select(p.c.policy_type, p.c.policy_domain, p.c.domain, p.c.attribution)
        return [tuple(r) for r in conn.execute(query.order_by(p.c.report_pk, p.c.ordinal))]


def _domains(store: Store, table: sa.Table) -> set[str]:
    with store.read() as conn:
        return set(conn.scalars(sa.select(table.c.domain).distinct()))


def test_mailed_postfix_report_is_filed_under_the_header_domain(store: Store, postfix: Any) -> None:
    result = ingest(store, postfix.mail(CUSTOMER, postfix.report("r1")), SMTP)
    assert result.outcome == "accepted", result.reason
    assert _policies(store) == [
        ("tlsa", MX, CUSTOMER, "report-domain-header"),
        ("no-policy-found", None, CUSTOMER, "report-domain-header"),
    ]
    # the roll-ups and failure rows every view reads: nothing under the MX
    # host or under "(no policy domain)"
    assert _domains(store, daily_rollups) == {CUSTOMER}
    assert _domains(store, failure_details) == {CUSTOMER}
    with store.read() as conn:
        r = daily_rollups.c
        tlsa = conn.execute(
            sa.select(r.successful_sessions, r.failed_sessions).where(
                r.domain == CUSTOMER, r.policy_type == "tlsa", r.result_type == ""
            )
        ).one()
    assert tuple(tlsa) == (40, 1)
    (report,) = result.report_ids
    with store.read() as conn:
        deviations = orjson.loads(
            conn.exec_driver_sql(f"SELECT deviations FROM reports WHERE id = {report}").scalar_one()
        )
    assert {
        "code": "policy-domain-attributed",
        "path": "$.policies[0].policy.policy-domain",
        "message": f"sessions for {MX} attributed to {CUSTOMER}, from the TLS-Report-Domain header",
        "violation": False,
    } in deviations


def test_receiver_path_names_the_recipient(store: Store, postfix: Any) -> None:
    source = SourceInfo("http", "127.0.0.1:5000", meta={RECEIVER_DOMAIN: CUSTOMER})
    assert ingest(store, postfix.report("r1"), source).outcome == "accepted"
    assert _policies(store) == [
        ("tlsa", MX, CUSTOMER, "receiver-path"),
        ("no-policy-found", None, CUSTOMER, "receiver-path"),
    ]


def test_dane_host_of_one_registered_domain(store: Store, postfix: Any) -> None:
    postfix.register(store, CUSTOMER, ["mx2.provider.example", MX])
    postfix.register(store, "other.example", ["mx.other.example"])
    assert ingest(store, postfix.report("r1"), FILE).outcome == "accepted"
    assert _policies(store) == [
        ("tlsa", MX, CUSTOMER, "mx-host-of-registered-domain"),
        ("no-policy-found", None, "", "unknown"),
    ]


def test_dane_host_shared_by_registered_domains_is_not_guessed(store: Store, postfix: Any) -> None:
    postfix.register(store, CUSTOMER, [MX])
    postfix.register(store, "other.example", ["mx.other.example", MX])
    ingest(store, postfix.report("r1"), FILE)
    assert _policies(store)[0] == ("tlsa", MX, MX, "reported")


def test_dane_host_registered_itself_stays(store: Store, postfix: Any) -> None:
    postfix.register(store, CUSTOMER, [MX])
    postfix.register(store, MX, [])
    ingest(store, postfix.mail(CUSTOMER, postfix.report("r1")), SMTP)
    assert _policies(store)[0] == ("tlsa", MX, MX, "reported")


def test_only_the_latest_mx_set_of_a_registered_domain_counts(store: Store, postfix: Any) -> None:
    postfix.register(store, CUSTOMER, [MX])
    postfix.register(store, CUSTOMER, ["mx.customer.example"])  # the MX moved
    with store.write() as conn:  # a snapshot of a domain no longer registered
        record_snapshot(
            conn,
            "gone.example",
            canonical({"mx": [{"host": MX}]}).decode(),
            "0" * 64,
            SnapshotSummary(0, 0, None),
            datetime.now(UTC),
            keepalive=timedelta(days=1),
        )
    ingest(store, postfix.report("r1"), FILE)
    assert _policies(store)[0] == ("tlsa", MX, MX, "reported")


def test_hostile_host_names_match_nothing_by_wildcard(store: Store, postfix: Any) -> None:
    """A policy-domain is report text: `_` and `%` are not LIKE wildcards."""
    postfix.register(store, CUSTOMER, [MX])
    for n, host in enumerate(["mx_.provider.example", "mx%provider.example", "%"]):
        ingest(store, postfix.report(f"r{n}", host), FILE)
    assert [row[2] for row in _policies(store) if row[0] == "tlsa"] == [
        "mx_.provider.example",
        "mx%provider.example",
        "%",
    ]


def test_reprocessed_input_is_attributed_with_its_receiver_path(store: Store, postfix: Any) -> None:
    """A held input released later keeps the path it was POSTed to (stored
    with it) and meets the registry of the moment."""
    source = SourceInfo("http", "127.0.0.1:5000", meta={RECEIVER_DOMAIN: CUSTOMER})
    held = ingest(store, postfix.report("r1"), source, hold="held for the test")
    assert held.outcome == "quarantined"
    release = UnsignedRelease("tester", datetime.now(UTC), "test")
    (again,) = reprocess(store, [held.raw_id], release=release)
    assert again.outcome == "accepted", again.reason
    assert [row[3] for row in _policies(store)] == ["receiver-path", "receiver-path"]


def test_reprocess_asks_the_registry_in_its_transaction(store: Store, postfix: Any) -> None:
    postfix.register(store, CUSTOMER, [MX])
    held = ingest(store, postfix.report("r1"), FILE, hold="held for the test")
    release = UnsignedRelease("tester", datetime.now(UTC), "test")
    (again,) = reprocess(store, [held.raw_id], release=release)
    assert again.outcome == "accepted", again.reason
    assert _policies(store)[0] == ("tlsa", MX, CUSTOMER, "mx-host-of-registered-domain")
