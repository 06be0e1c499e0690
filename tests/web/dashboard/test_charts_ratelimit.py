"""The charts pygal draws (self-contained, escaped, the right numbers) and
the token buckets behind the rate limits."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlsrpt.analysis.period import DailyPoint
from tlsrpt.web.dashboard.charts import (
    daily_chart,
    failure_rate_label,
    parse_spark_query,
    parse_spark_top,
    spark_query,
    spark_scale,
    sparkline,
)
from tlsrpt.web.ratelimit import TokenBuckets

NS = {"s": "http://www.w3.org/2000/svg"}
START = date(2026, 1, 1)


def assert_self_contained(svg: str) -> ET.Element:
    """No script, event handler or anything fetched from elsewhere."""
    root = ET.fromstring(svg)  # noqa: S314 (our own output, no DTD)
    for element in root.iter():
        assert not element.tag.endswith("}script")
        assert element.tag != "script"
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), name
            assert "href" not in name, name  # no link, no external image or font
            assert "javascript:" not in value.lower()
    text = svg.lower()
    for fetched in ("<script", "@import", "url(", "xml-stylesheet", "<!--"):
        assert fetched not in text
    # The only URLs are the namespaces (identifiers, never fetched).
    assert set(re.findall(r"https?://[^\s\"'<>]+", svg)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    return root


def _daily(days: list[tuple[int, int] | None]) -> list[DailyPoint]:
    return [
        DailyPoint(START + timedelta(n), 0, None, None)
        if c is None
        else DailyPoint(START + timedelta(n), 1, c[0], c[1])
        for n, c in enumerate(days)
    ]


def _assert_round_gridlines(root: ET.Element, days: list[tuple[int, int] | None]) -> None:
    """At most five gridlines; the left axis counts sessions in a round step
    (1, 2, 2.5 or 5 times a power of ten) up to the highest day or just
    above; the right axis the rate, also from 0 in a round step."""
    grid = root.find("s:g[@class='grid']", NS)
    assert grid is not None
    lines = grid.findall("s:line", NS)
    assert 2 <= len(lines) <= 6
    left = [t.text or "" for t in grid.findall("s:text[@class='y']", NS)]
    right = [t.text or "" for t in grid.findall("s:text[@class='y2']", NS)]
    assert len(left) == len(right) == len(lines)
    sessions = [int(v.replace(",", "")) for v in left]
    step = sessions[1]
    assert sessions == [step * n for n in range(len(sessions))]
    mantissa = step / 10 ** (len(str(step)) - 1)
    assert mantissa in (1, 2, 2.5, 5) or step in (25, 250, 2500, 25000, 250000)
    top = max([a + b for a, b in (c for c in days if c)] + [0])
    assert sessions[-1] >= top and (top == 0 or sessions[-2] < top)
    rates = [float(v.removesuffix(" %")) for v in right]
    assert rates[0] == 0 and all(r == pytest.approx(rates[1] * n) for n, r in enumerate(rates))


def _assert_rate_line(root: ET.Element, days: list[tuple[int, int] | None]) -> None:
    """A dot per day with sessions, at the height of its rate on the right axis."""
    dots = root.findall("s:g[@class='series rate']/s:circle", NS)
    known = [(n, c) for n, c in enumerate(days) if c is not None and c[0] + c[1]]
    assert len(dots) == len(known)
    for dot, (n, c) in zip(dots, known, strict=True):
        rate = c[1] / (c[0] + c[1])
        day = (START + timedelta(n)).isoformat()
        assert dot.findtext("s:title", namespaces=NS) == f"{day}: {rate:.2%} of sessions failed"


def chart_bars(root: ET.Element, serie: int) -> list[dict[str, object]]:
    """What pygal drew for one series: per bar its day, value, title, rect."""
    bars = []
    for g in root.findall(f".//s:g[@class='series serie-{serie} color-{serie}']/s:g/s:g", NS):
        rect = g.find("s:rect", NS)
        assert rect is not None
        bars.append(
            {
                "day": g.findtext("s:desc[@class='x_label']", namespaces=NS),
                "value": g.findtext("s:desc[@class='value']", namespaces=NS),
                "title": g.findtext("s:title", namespaces=NS),
                "y": float(rect.get("y", "nan")),
                "height": float(rect.get("height", "nan")),
            }
        )
    return bars


counts = st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)))


@given(st.lists(counts, min_size=1, max_size=90))
@settings(deadline=None, max_examples=40)
def test_daily_chart_draws_each_day_on_one_scale(days: list[tuple[int, int] | None]) -> None:
    root = assert_self_contained(str(daily_chart(_daily(days), "example.com")))
    assert root.get("id") == "daily-chart" and root.get("role") == "img"
    assert root.findtext("s:title", namespaces=NS) == (
        "Daily sessions and failure rate for example.com"
    )
    _assert_round_gridlines(root, days)
    _assert_rate_line(root, days)
    ok_bars, failed_bars = chart_bars(root, 0), chart_bars(root, 1)
    assert len(ok_bars) == len(failed_bars) == len(days)
    scales = []
    for n, (c, ok, failed) in enumerate(zip(days, ok_bars, failed_bars, strict=True)):
        day = (START + timedelta(n)).isoformat()
        assert ok["day"] == failed["day"] == day
        if c is None:
            assert ok["title"] == failed["title"] == f"{day}: no report"
            assert ok["height"] == failed["height"] == 0
            continue
        assert ok["value"] == f"{c[0]:,}" and failed["value"] == f"{c[1]:,}"
        assert ok["title"] == f"{day}: {c[0]:,} successful sessions"
        assert failed["title"] == f"{day}: {c[1]:,} failed sessions"
        # Failed sessions stacked on the successful ones.
        assert failed["y"] + failed["height"] == pytest.approx(ok["y"], abs=1e-6)
        for bar, value in ((ok, c[0]), (failed, c[1])):
            if value:
                scales.append(bar["height"] / value)
            else:
                assert bar["height"] == pytest.approx(0, abs=1e-6)
    if scales:
        assert max(scales) == pytest.approx(min(scales), rel=1e-6)


@pytest.mark.parametrize(
    "hostile",
    [
        "\"><script>window.__pwned='domain'</script>.example",
        "</title><script>alert(1)</script><title>",
        "]]><svg onload=alert(1)>&amp;<!--",
    ],
)
def test_a_hostile_domain_is_text_in_the_chart(hostile: str) -> None:
    """A policy domain is whatever a report wrote; pygal escapes it."""
    svg = str(daily_chart(_daily([(5, 1)]), hostile))
    root = assert_self_contained(svg)
    assert root.findtext("s:title", namespaces=NS) == (
        f"Daily sessions and failure rate for {hostile}"
    )


def test_sparkline_shows_each_rate_and_breaks_at_gap_days() -> None:
    rates = [0.01, 0.1, None, 0.0, None, 0.02, 0.04, 0.03]
    root = assert_self_contained(sparkline(rates))
    assert root.findtext("s:title", namespaces=NS) == "daily failure rate from 0.0% to 10.0%"
    dots = root.findall(".//s:g[@class='dots']", NS)
    assert [d.findtext("s:desc[@class='value']", namespaces=NS) for d in dots] == [
        "1.00%",
        "10.00%",
        "0.00%",
        "2.00%",
        "4.00%",
        "3.00%",
    ]
    # One line per run of at least two days with reports.
    assert len(root.findall(".//s:path[@class='line reactive nofill']", NS)) == 2
    # The dots' heights above the zero line are proportional to the rates.
    ys = [float(d.find("s:circle", NS).get("cy")) for d in dots]
    zero = ys[2]
    known = [r for r in rates if r is not None]
    for y, r in zip(ys, known, strict=True):
        assert zero - y == pytest.approx((zero - ys[1]) * r / 0.1, abs=1e-6)
    assert failure_rate_label([None]) == "no reports in this period"


def test_sparklines_share_the_page_scale_and_are_grey_without_failures() -> None:
    low, high = [0.001, 0.0013, 0.0], [0.06, 0.02, None]
    top = spark_scale([*low, *high])
    assert top == 0.1  # a round number above the page's highest rate
    assert spark_scale([0.0, None]) == 0.01 and spark_scale([0.4]) == 0.5
    # the same rate is drawn at the same height in every sparkline of the page
    heights = []
    for rates in ([0.05, *low], [0.05, *high]):
        root = assert_self_contained(sparkline(rates, top))
        dots = root.findall(".//s:g[@class='dots']", NS)
        heights.append(float(dots[0].find("s:circle", NS).get("cy")))
    assert heights[0] == pytest.approx(heights[1])
    assert "#c62828" in sparkline(low, top)  # red: some sessions failed
    clean = sparkline([0.0, 0.0, None, 0.0], top)
    assert "#c62828" not in clean and "#6b7280" in clean  # grey at 0 %
    assert parse_spark_top("0.1") == 0.1
    for bad in ("0", "-1", "1.5", "nan", "x"):
        assert parse_spark_top(bad) is None, bad


def test_sparkline_urls_round_trip_and_refuse_anything_else() -> None:
    daily = _daily([(99, 1), None, (2, 1), (10, 0)])
    query = spark_query(daily)
    assert query == "0.01,,0.333333,0"
    assert parse_spark_query(query) == [0.01, None, 0.333333, 0.0]
    for bad in ("nan", "1.5", "-0.1", "0.1;x", "inf", ",".join(["0"] * 401)):
        assert parse_spark_query(bad) is None, bad


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
    from tlsrpt.receive.settings import HttpSettings
    from tlsrpt.settings import Settings
    from tlsrpt.web.app import create_app
    from tlsrpt.web.ratelimit import RateLimit

    app = create_app(Settings(http=HttpSettings(reports_path="/tlsrpt")))
    (middleware,) = [m for m in app.user_middleware if m.cls is RateLimit]
    limited = {(r.method, r.path) for r in middleware.kwargs["rules"]}
    assert limited == {
        ("POST", "/tlsrpt"),
        ("POST", "/login"),
        # the hosted MTA-STS policy host and the on-demand TLS question
        ("GET", "/.well-known/mta-sts.txt"),
        ("HEAD", "/.well-known/mta-sts.txt"),
        ("GET", "/v1/mta-sts/allowed"),
    }
