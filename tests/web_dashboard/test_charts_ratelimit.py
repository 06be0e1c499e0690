"""Chart geometry (pure) and the token buckets behind the rate limits."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.analysis.period import DailyPoint
from tlsrpt.web.dashboard.charts import HEIGHT, daily_bars, nice_max, sparkline
from tlsrpt.web.ratelimit import TokenBuckets


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (11, 20), (1999, 2000), (2001, 5000)],
)
def test_nice_max(value: int, expected: int) -> None:
    assert nice_max(value) == expected


counts = st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)))


@given(st.lists(counts, min_size=1, max_size=90))
def test_bars_are_proportional_and_inside_the_chart(days: list[tuple[int, int] | None]) -> None:
    start = date(2026, 1, 1)
    daily = [
        DailyPoint(start + timedelta(n), 0, None, None)
        if c is None
        else DailyPoint(start + timedelta(n), 1, c[0], c[1])
        for n, c in enumerate(days)
    ]
    chart = daily_bars(daily)
    top = chart.ticks[-1].value
    plot_h = chart.bottom_y - chart.ticks[-1].y
    assert top >= max((sum(c) for c in days if c), default=0)
    for bar, c in zip(chart.bars, days, strict=True):
        if c is None:
            assert bar.successful is None and bar.label.endswith("no report")
            continue
        assert bar.ok_height == pytest.approx(plot_h * c[0] / top, abs=0.01)
        assert bar.failed_height == pytest.approx(plot_h * c[1] / top, abs=0.01)
        assert 0 <= bar.failed_y <= bar.ok_y <= chart.bottom_y <= HEIGHT
        assert bar.x + bar.width <= chart.width


def test_sparkline_breaks_at_gap_days() -> None:
    start = date(2026, 1, 1)
    daily = [
        DailyPoint(start, 1, 99, 1),
        DailyPoint(start + timedelta(1), 1, 90, 10),
        DailyPoint(start + timedelta(2), 0, None, None),
        DailyPoint(start + timedelta(3), 1, 100, 0),
    ]
    spark = sparkline(daily)
    assert len(spark.segments) == 2
    assert spark.max_rate == pytest.approx(0.1)
    assert spark.label == "daily failure rate from 0.0% to 10.0%"
    assert sparkline([DailyPoint(start, 0, None, None)]).label == "no reports in this period"


def test_token_buckets_allow_a_burst_then_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token every half second
    assert buckets.take("b") == 0  # per client
    now[0] = 0.5
    assert buckets.take("a") == 0
    assert buckets.take("a") > 0
    now[0] = 100.0
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]  # refilled, capped at the burst
    assert buckets.take("a") > 0


def test_rate_limit_middleware_answers_429_with_retry_after() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from tlsrpt.web.ratelimit import RateLimit, Rule

    app = FastAPI()

    @app.post("/v1/reports")
    def receive() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/v1/reports")
    def read() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(RateLimit, rules=[Rule("POST", "/v1/reports", TokenBuckets(0.1, 2))])
    client = TestClient(app)
    codes = [client.post("/v1/reports").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = client.post("/v1/reports")
    assert refused.headers["retry-after"] == "10"
    assert refused.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/reports").status_code == 200  # only the rule's method and path


def test_the_app_limits_the_receiver_and_the_login() -> None:
    from tlsrpt.web.app import create_app
    from tlsrpt.web.ratelimit import RateLimit
    from tlsrpt.web.settings import Settings

    app = create_app(Settings(reports_path="/tlsrpt"))
    (middleware,) = [m for m in app.user_middleware if m.cls is RateLimit]
    limited = {(r.method, r.path) for r in middleware.kwargs["rules"]}
    assert limited == {("POST", "/tlsrpt"), ("POST", "/login")}
