"""`GET /api/v1/alerts`: a customer sees the alerts of their domains only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from tests.conftest import module_store

from tlsrpt.analysis.alert_model import Condition
from tlsrpt.settings import Settings
from tlsrpt.store.alerts import apply_transitions, current_alerts
from tlsrpt.store.engine import Store
from tlsrpt.watch.lifecycle import plan
from tlsrpt.web.app import create_app

DAY = datetime.now(UTC).date() - timedelta(days=1)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ADMIN, A, B, AB = (
    "admin@operator.example",
    "owner@customer-a.example",
    "owner@customer-b.example",
    "owner@customer-ab.example",
)


def _evaluate(store: Store, domain: str, conditions: list[Condition], now: datetime) -> None:
    with store.write() as conn:
        current = current_alerts(conn, [domain])[domain]
        transitions = plan(current, conditions, {}, now, timedelta(hours=2))
        apply_transitions(conn, domain, transitions, now)


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]

    def get(self, who: str | None, **params: object) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get("/api/v1/alerts", headers=headers, params=params)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tenant_store_builder: Callable[..., Any],
) -> Iterator[World]:
    with module_store(request, tmp_path_factory, "alerts") as store:
        tenants = tenant_store_builder(store, DAY)
        alpha = Condition(
            "reporter-silent", "Alpha Reporter", "warning", "alpha-only-summary", "e", None
        )
        beta = Condition(
            "mx-certificate-expired", "mx.beta.example", "error", "beta-only-summary", "e", "renew"
        )
        old = Condition("reports-missing", "", "warning", "beta-resolved-summary", "e", None)
        _evaluate(store, "alpha.example", [alpha], NOW)
        _evaluate(store, "beta.example", [beta, old], NOW)
        _evaluate(store, "beta.example", [beta], NOW + timedelta(hours=1))
        _evaluate(
            store,
            "",
            [Condition("quarantine-growing", "", "warning", "global-summary", "e", None)],
            NOW,
        )
        with TestClient(create_app(Settings(), store)) as client:
            yield World(client, tenants.tokens)


def _alerts(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = orjson.loads(response.content)
    assert list(body) == ["alerts"]
    return list(body["alerts"])


def test_customer_a_never_sees_b_s_alerts(world: World) -> None:
    mine = _alerts(world.get(A, all="true"))
    assert [(a["domain"], a["summary"]) for a in mine] == [("alpha.example", "alpha-only-summary")]
    text = world.get(A, all="true").text
    assert "beta" not in text and "global" not in text
    assert world.get(A, domain="beta.example").status_code == 404
    assert world.get(A, domain="nowhere.example").status_code == 404


def test_customer_b_and_a_customer_of_both(world: World) -> None:
    assert [a["summary"] for a in _alerts(world.get(B))] == ["beta-only-summary"]
    both = _alerts(world.get(B, all="true"))
    assert [(a["summary"], a["state"]) for a in both] == [
        ("beta-only-summary", "firing"),
        ("beta-resolved-summary", "resolved"),
    ]
    assert sorted(a["domain"] for a in _alerts(world.get(AB))) == ["alpha.example", "beta.example"]
    assert [a["domain"] for a in _alerts(world.get(AB, domain="alpha.example"))] == [
        "alpha.example"
    ]


def test_an_admin_sees_every_alert(world: World) -> None:
    found = _alerts(world.get(ADMIN))
    assert sorted(str(a["domain"]) for a in found) == ["None", "alpha.example", "beta.example"]
    (alert,) = [a for a in found if a["domain"] == "beta.example"]
    assert alert["rule"] == "mx-certificate-expired"
    assert alert["first_seen"] == "2026-12-01T12:00:00Z"
    assert set(alert) >= {
        "id",
        "domain",
        "rule",
        "severity",
        "state",
        "subject",
        "summary",
        "first_seen",
        "last_seen",
        "resolved_at",
    }


def test_a_token_is_required(world: World) -> None:
    assert world.get(None).status_code == 401
    assert (
        world.client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
