"""GET /metrics: who may read it, the receiver and ingest counters, and the
gauges read from the database (alerts, outbox, per-domain sessions behind
a cardinality cap), cached between scrapes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tlsrpt.analysis.alert_model import NOTIFY_FIRING, OPEN, RESOLVE, Condition, Transition
from tlsrpt.channels import parse_channels
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store import outbox
from tlsrpt.store.alerts import apply_transitions
from tlsrpt.store.engine import Store, open_store
from tlsrpt.web.metrics import DatabaseCollector, cap_domains

from .conftest import Running

DAY = dt.date(2026, 12, 6)
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)  # "yesterday" is DAY


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def _report(domain: str, report_id: str, ok: int, failed: int, day: dt.date = DAY) -> bytes:
    policy = {
        "policy": {"policy-type": "sts", "policy-domain": domain, "policy-string": ["x"]},
        "summary": {
            "total-successful-session-count": ok,
            "total-failure-session-count": failed,
        },
        "failure-details": [],
    }
    return orjson.dumps(
        {
            "organization-name": "Org",
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": "a@org.example",
            "report-id": report_id,
            "policies": [policy],
        }
    )


def test_receiver_and_ingest_counters(
    make_server: Callable[..., Running], report_json: Callable[..., bytes]
) -> None:
    server = make_server()
    with httpx.Client(base_url=server.base_url) as client:
        before = client.get("/metrics").text
        posted = client.post(
            "/v1/reports",
            content=report_json("metrics-1"),
            headers={"Content-Type": "application/tlsrpt+json"},
        )
        refused = client.post("/v1/reports", content=b"x", headers={"Content-Type": "text/plain"})
        answer = client.get("/metrics")
    assert (posted.status_code, refused.status_code) == (201, 415)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = answer.text
    for name, labels in [
        ("tlsrpt_receiver_requests_total", {"status": "201"}),
        ("tlsrpt_receiver_requests_total", {"status": "415"}),
        ("tlsrpt_ingest_outcomes_total", {"source": "http", "outcome": "accepted"}),
    ]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1
    count = "tlsrpt_receiver_request_duration_seconds_count"
    assert value(after, count) == value(before, count) + 2
    assert value(after, "tlsrpt_metrics_source_errors") == 0


def test_smtp_and_imap_ingest_is_counted(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    def current() -> float:
        got = REGISTRY.get_sample_value(
            "tlsrpt_ingest_outcomes_total", {"source": "smtp", "outcome": "quarantined"}
        )
        return got or 0.0

    before = current()
    with open_store(f"sqlite:///{tmp_path / 'm.sqlite3'}") as store:
        ingest(store, b"not a report", SourceInfo("smtp", "127.0.0.1"))
    assert current() == before + 1


def test_token_is_required_when_set(make_server: Callable[..., Running]) -> None:
    server = make_server(metrics_token="scrape-me")
    with httpx.Client(base_url=server.base_url) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == "application/problem+json"
    assert right.status_code == 200 and "tlsrpt_ingest_outcomes" in right.text


def test_without_token_only_direct_loopback_clients(make_server: Callable[..., Running]) -> None:
    server = make_server(trusted_proxies=("127.0.0.1",))
    with httpx.Client(base_url=server.base_url) as client:
        direct = client.get("/metrics")
        # through a proxy: uvicorn takes the client address from the header
        remote = client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7"})
        local_proxy = client.get("/metrics", headers={"Forwarded": "for=127.0.0.1"})
    assert direct.status_code == 200
    assert remote.status_code == local_proxy.status_code == 403
    assert "metrics_token" in remote.json()["detail"]


def test_cap_domains_folds_the_quietest_into_other() -> None:
    rows = [
        ("big.example", DAY, 100, 5),
        ("mid.example", DAY, 50, 0),
        ("small.example", DAY, 1, 1),
        ("tiny.example", DAY, 1, 0),
        ("small.example", DAY + dt.timedelta(days=1), 3, 0),
    ]
    capped, folded = cap_domains(rows, 2)
    assert folded == 2
    assert capped == [
        ("big.example", DAY, 100, 5),
        ("mid.example", DAY, 50, 0),
        ("other", DAY, 2, 1),
        ("other", DAY + dt.timedelta(days=1), 3, 0),
    ]


def _open_alert(conn: Any, domain: str, rule: str, severity: str, resolve: bool = False) -> None:
    """An alert opened (and resolved) by the alert lifecycle's own writer."""
    condition = Condition(rule, "", severity, f"{rule} on {domain}", "what it means", None)
    opening = Transition(OPEN, rule, "", None, condition, NOTIFY_FIRING)
    (event,) = apply_transitions(conn, domain, [opening], NOW)
    if resolve:
        apply_transitions(conn, domain, [Transition(RESOLVE, rule, "", event.alert_id, None)], NOW)


def _scrape(collector: DatabaseCollector) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def _fill(store: Store, alert_factory: Callable[..., dict[str, Any]]) -> None:
    for n, (domain, ok, failed) in enumerate(
        [("big.example", 90, 10), ("mid.example", 40, 0), ("quiet.example", 2, 1)]
    ):
        ingest(store, _report(domain, f"r{n}", ok, failed), SourceInfo("file", "t"))
    ingest(store, _report("big.example", "today", 5, 0, NOW.date()), SourceInfo("file", "t"))
    ingest(
        store,
        _report("old.example", "old", 7, 7, DAY - dt.timedelta(days=3)),
        SourceInfo("file", "t"),
    )
    channels = parse_channels(
        [{"type": "webhook", "name": "ops", "url": "http://127.0.0.1:9/", "secret": "k"}]
    )
    with store.write() as conn:
        for n in (1, 2):
            outbox.enqueue(
                conn, "alert.firing", alert_factory(n), channels, now=NOW - dt.timedelta(minutes=n)
            )
        _open_alert(conn, "d1.example", "mx-certificate-expiring", "warning")
        _open_alert(conn, "d2.example", "mx-certificate-expiring", "warning")
        _open_alert(conn, "d3.example", "sts-policy-fetch-failed", "error")
        _open_alert(conn, "d4.example", "sts-policy-fetch-failed", "error", resolve=True)


def test_database_gauges(store: Store, alert_factory: Callable[..., dict[str, Any]]) -> None:
    _fill(store, alert_factory)
    text = _scrape(DatabaseCollector(store, 2, clock=lambda: NOW))
    got = samples(text)
    sessions = {
        (dict(labels)["domain"], dict(labels)["day"], dict(labels)["result"]): v
        for (name, labels), v in got.items()
        if name == "tlsrpt_domain_sessions"
    }
    assert sessions == {
        ("big.example", "yesterday", "successful"): 90,
        ("big.example", "yesterday", "failed"): 10,
        ("big.example", "today", "successful"): 5,
        ("big.example", "today", "failed"): 0,
        ("mid.example", "yesterday", "successful"): 40,
        ("mid.example", "yesterday", "failed"): 0,
        ("other", "yesterday", "successful"): 2,
        ("other", "yesterday", "failed"): 1,
    }
    assert value(text, "tlsrpt_domain_series_folded") == 1
    assert (
        value(text, "tlsrpt_alerts_firing", rule="mx-certificate-expiring", severity="warning") == 2
    )
    assert (
        value(text, "tlsrpt_alerts_firing", rule="sts-policy-fetch-failed", severity="error") == 1
    )
    assert value(text, "tlsrpt_outbox_pending", channel="ops") == 2
    assert value(text, "tlsrpt_outbox_failed", channel="ops") == 0
    assert value(text, "tlsrpt_outbox_oldest_pending_age_seconds", channel="ops") == 120
    assert value(text, "tlsrpt_metrics_source_errors") == 0


def test_gauges_are_cached_between_scrapes(
    store: Store, alert_factory: Callable[..., dict[str, Any]]
) -> None:
    channels = parse_channels(
        [{"type": "webhook", "name": "ops", "url": "http://127.0.0.1:9/", "secret": "k"}]
    )
    cached = DatabaseCollector(store, 10, ttl=dt.timedelta(hours=1), clock=lambda: NOW)
    fresh = DatabaseCollector(store, 10, ttl=dt.timedelta(0), clock=lambda: NOW)
    assert value(_scrape(cached), "tlsrpt_outbox_pending", channel="ops") == 0
    with store.write() as conn:
        outbox.enqueue(conn, "alert.firing", alert_factory(), channels, now=NOW)
    assert value(_scrape(cached), "tlsrpt_outbox_pending", channel="ops") == 0
    assert value(_scrape(fresh), "tlsrpt_outbox_pending", channel="ops") == 1


def test_a_failing_read_drops_only_its_gauges(tmp_path: Path) -> None:
    """Without an alerts table the other gauges are still there."""
    with open_store(f"sqlite:///{tmp_path / 'm.sqlite3'}") as store:
        with store.write() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alerts")
        text = _scrape(DatabaseCollector(store, 10, clock=lambda: NOW))
    assert value(text, "tlsrpt_metrics_source_errors") == 1
    assert "tlsrpt_alerts_firing" not in text
    assert "tlsrpt_domain_series_folded 0.0" in text


def test_day_gauges_read_an_index_range_not_the_table(tmp_path: Path) -> None:
    from tlsrpt.store.gauges import domain_sessions_query

    with open_store(f"sqlite:///{tmp_path / 'm.sqlite3'}") as store, store.read() as conn:
        query = domain_sessions_query([DAY, NOW.date()])
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "USING INDEX ix_daily_rollups_day" in plan, plan


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = (
        f"sqlite:///{tmp_path / 'g.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with open_store(url) as opened:
        yield opened


@pytest.fixture
def alert_factory() -> Callable[..., dict[str, Any]]:
    def make(alert_id: int = 1) -> dict[str, Any]:
        return {
            "id": alert_id,
            "domain": "example.com",
            "rule": "r",
            "severity": "warning",
            "state": "firing",
            "subject": None,
            "summary": "s",
            "first_seen": None,
            "last_seen": None,
            "resolved_at": None,
        }

    return make
