"""The Grafana dashboards in deploy/grafana: every Prometheus panel names
metrics that /metrics exposes, and every SQL panel runs on PostgreSQL with
the current schema."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import tlsrpt.metrics  # noqa: F401  # registers the process's metrics
from tlsrpt.analysis.alert_model import OPEN, Condition, Transition
from tlsrpt.channels import parse_channels
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store.alerts import apply_transitions
from tlsrpt.store.engine import open_store
from tlsrpt.watch.wiring import outbox_sink
from tlsrpt.web.metrics import gauge_families

GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "summary": ("", "_count", "_sum"),
}
METRIC = re.compile(r"\b((?:tlsrpt|process)_[a-z0-9_]+)\b")


def _dashboard(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((GRAFANA / name).read_bytes())
    return data


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        for panel in panels:
            yield from walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                yield panel["title"], target

    yield from walk(dashboard["panels"])


def _exposed_names() -> set[str]:
    from prometheus_client import REGISTRY

    names = set()
    for family in [*REGISTRY.collect(), *gauge_families().values()]:
        names.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
    return names


def test_every_prometheus_panel_names_exposed_metrics() -> None:
    exposed = _exposed_names()
    targets = list(_targets(_dashboard("tlsrpt-prometheus.json")))
    assert len(targets) >= 10
    seen = set()
    for title, target in targets:
        named = METRIC.findall(target["expr"])
        assert named, f"{title}: {target['expr']} names no tlsrpt metric"
        unknown = set(named) - exposed
        assert not unknown, f"{title}: no such metric {sorted(unknown)}"
        seen.update(named)
    # the dashboard shows every family of the issue: ingest, receiver, checks,
    # alerts, outbox, notifications, per-domain sessions
    for family in (
        "ingest_outcomes",
        "receiver_request",
        "check",
        "alerts_firing",
        "outbox",
        "notifications",
        "domain_sessions",
    ):
        assert any(family in name for name in seen), family


def _substitute(sql: str) -> str:
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)",
        r"\1 BETWEEN '2026-11-01T00:00:00Z' AND '2026-12-31T23:59:59Z'",
        sql,
    )
    sql = sql.replace("$domain", "example.com")
    assert "$" not in sql, f"unknown macro or variable in {sql}"
    return sql


def _report(day: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "organization-name": "Example Org",
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": "a@org.example",
            "report-id": f"r{n}",
            "policies": [
                {
                    "policy": {
                        "policy-type": "sts",
                        "policy-domain": "example.com",
                        "policy-string": ["mode: enforce"],
                        "mx-host": ["mx.example.com"],
                    },
                    "summary": {
                        "total-successful-session-count": 10,
                        "total-failure-session-count": 2,
                    },
                    "failure-details": [
                        {
                            "result-type": "certificate-expired",
                            "receiving-mx-hostname": "mx.example.com",
                            "failed-session-count": 2,
                        }
                    ],
                }
            ],
        }
    )


@pytest.mark.postgres
def test_every_sql_panel_runs_on_postgresql(postgres_url: str) -> None:
    dashboard = _dashboard("tlsrpt-postgresql.json")
    with open_store(postgres_url) as store:
        for n, day in enumerate(["2026-12-01", "2026-12-02"]):
            ingest(store, _report(day, n), SourceInfo("file", "t"))
        ingest(store, b"not a report", SourceInfo("http", "t"))
        channels = parse_channels(
            [{"type": "webhook", "name": "ops", "url": "http://127.0.0.1:9/", "secret": "k"}]
        )
        with store.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO domains (domain, created_at) VALUES ('example.com', now())"
            )
            # An alert opened by the alert lifecycle, notified through the outbox.
            expiring = Condition(
                "mx-certificate-expiring", "mx.example.com", "warning", "expires soon", "why", None
            )
            opening = Transition(OPEN, expiring.rule, expiring.subject, None, expiring, "firing")
            events = apply_transitions(conn, "example.com", [opening], dt.datetime.now(dt.UTC))
            outbox_sink(channels)(conn, events)
        with store.read() as conn:
            variables = [v for v in dashboard["templating"]["list"] if v["type"] == "query"]
            for variable in variables:
                assert [tuple(r) for r in conn.exec_driver_sql(variable["query"])] == [
                    ("example.com",)
                ]
            results = {}
            for title, target in _targets(dashboard):
                assert target["rawQuery"] and target["format"] in ("time_series", "table")
                cursor = conn.connection.cursor()  # as Grafana sends it: no placeholders
                cursor.execute(_substitute(target["rawSql"]))
                columns = [c[0] for c in cursor.description]
                values = cursor.fetchall()
                if target["format"] == "time_series":
                    assert columns[0] == "time", title
                results[title] = values
    assert len(results) >= 8
    assert results["Sessions per day: $domain"] and results["Failures by receiving MX: $domain"]
    assert results["Quarantined inputs per day"] and results["Notification outbox"]
    ((domain, rule, *_),) = results["Firing alerts"]
    assert (domain, rule) == ("example.com", "mx-certificate-expiring")
