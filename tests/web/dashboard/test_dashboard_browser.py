"""The dashboard in a real browser: Debian's chromium driven by Playwright
(never `playwright install`), against a real uvicorn server on loopback.

Logs in through the form, checks the overview and a domain page show the
numbers of an independent computation over the generated reports (table
cells, and the chart's bars: their data, their tooltips and their drawn
heights), and that reports carrying script payloads in every string field
run nothing: no dialog, no `window.__pwned`, no script element, no event
handler attribute, no javascript: link, no CSP violation (which would mean
markup got through escaping). Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from tests.web.dashboard import browser_kit
from tests.web.dashboard.browser_kit import ARGS, CHROMIUM, Watched, assert_nothing_ran

from tlsrpt.demo import demo_reports

ARTIFACTS = browser_kit.ARTIFACTS / "dashboard"
ADMIN, PASSWORD = "admin@example.com", "correct horse battery"

if not CHROMIUM.exists():
    pytest.skip(browser_kit.NO_CHROMIUM, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason=browser_kit.NO_PLAYWRIGHT)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def admin(browser: Any, live_url: str) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{live_url}/")
    assert page.url.startswith(f"{live_url}/login")
    page.fill("#email", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{live_url}/")
    yield watched
    context.close()


def _expected(days: int, site_end: date) -> dict[str, dict[str, Any]]:
    """Per domain and per day, from the generated reports (not the store).
    The period ends today (UTC), like the dashboard's."""
    end = datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"ok": 0, "failed": 0, "days": {}})
    for report in demo_reports(site_end, 60):
        day = report.date_range.start_datetime.date()
        if not start <= day <= end:
            continue
        for p in report.policies:
            d = out[p.policy.policy_domain or ""]
            d["ok"] += p.summary.total_successful_session_count
            d["failed"] += p.summary.total_failure_session_count
            ok, failed = d["days"].get(day.isoformat(), (0, 0))
            d["days"][day.isoformat()] = (
                ok + p.summary.total_successful_session_count,
                failed + p.summary.total_failure_session_count,
            )
    return out


# The share of an image's pixels that are not transparent (test code run by
# Playwright in the page, outside its Content-Security-Policy).
INKED = """img => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
    return inked / (data.length / 4);
}"""


def test_overview_shows_the_right_numbers(admin: Watched, live_url: str, site: Any) -> None:
    page = admin.page
    page.goto(f"{live_url}/?days=90")
    expected = _expected(90, site.end)
    for domain in ("example.com", "shop.example.net", "new.example.io"):
        row = page.locator(f"tr[data-domain='{domain}']")
        sessions = row.locator("[data-field=sessions]").inner_text()
        failed = row.locator("[data-field=failed]").inner_text()
        want = expected[domain]
        assert sessions == f"{want['ok'] + want['failed']:,}"
        assert failed == f"{want['failed']:,}"
    assert page.locator("tr[data-domain='example.com'] .verdict-ready").count() == 1
    assert page.locator("tr[data-domain='shop.example.net'] .verdict-not-ready").count() == 1
    sparks = page.locator("img.spark")
    assert sparks.count() >= 5
    for domain in ("example.com", "shop.example.net"):
        spark = page.locator(f"tr[data-domain='{domain}'] img.spark")
        spark.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=spark.element_handle()
        )
        # Drawn as a line with pygal's own style, not a filled box.
        inked = page.evaluate(INKED, spark.element_handle())
        assert 0 < inked < 0.3
        svg = page.request.get(f"{live_url}{spark.get_attribute('src')}").text()
        days = expected[domain]["days"]
        rates = [
            f"{failed / (ok + failed):.2%}"
            for _, (ok, failed) in sorted(days.items())
            if ok + failed
        ]
        assert re.findall(r'<desc class="value">([^<]*)</desc>', svg) == rates
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)


def test_domain_chart_draws_the_daily_numbers(admin: Watched, live_url: str, site: Any) -> None:
    page = admin.page
    page.goto(f"{live_url}/domains/shop.example.net?days=90")
    expected = _expected(90, site.end)["shop.example.net"]["days"]
    assert page.locator("#daily-chart").get_attribute("role") == "img"
    ok_bars = page.locator("#daily-chart .serie-0 g.bar")
    failed_bars = page.locator("#daily-chart .serie-1 g.bar")
    assert ok_bars.count() == failed_bars.count() == 90
    scale: list[float] = []
    for i in range(ok_bars.count()):
        ok_bar, failed_bar = ok_bars.nth(i), failed_bars.nth(i)
        day = ok_bar.locator("desc.x_label").text_content()
        assert failed_bar.locator("desc.x_label").text_content() == day
        ok, failed = expected.get(day, (None, None))
        ok_h = float(ok_bar.locator("rect").get_attribute("height"))
        failed_h = float(failed_bar.locator("rect").get_attribute("height"))
        if ok is None:
            assert ok_bar.locator("title").text_content() == f"{day}: no report"
            assert failed_bar.locator("title").text_content() == f"{day}: no report"
            assert ok_h == failed_h == 0
            continue
        assert ok_bar.locator("desc.value").text_content() == f"{ok:,}"
        assert failed_bar.locator("desc.value").text_content() == f"{failed:,}"
        assert ok_bar.locator("title").text_content() == f"{day}: {ok:,} successful sessions"
        assert failed_bar.locator("title").text_content() == f"{day}: {failed:,} failed sessions"
        # The drawn bar: its rendered box in the page, not only the attribute.
        assert ok_bar.locator("rect").bounding_box()["height"] > 0
        scale.append(ok_h / ok)
        if i == 0 or failed:
            fills = page.evaluate(
                "bars => bars.map(b => getComputedStyle(b.querySelector('rect')).fill)",
                [ok_bar.element_handle(), failed_bar.element_handle()],
            )
            assert fills == ["rgb(46, 125, 50)", "rgb(198, 40, 40)"]  # the page's --ok, --bad
        if failed:
            assert failed_h / failed == pytest.approx(scale[-1], rel=0.02)
    # Every bar is drawn on the same scale: heights proportional to the numbers.
    assert max(scale) == pytest.approx(min(scale), rel=0.02)
    assert page.locator("#readiness .verdict-not-ready").is_visible()
    assert page.locator("#readiness li.fail").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "domain.png"), full_page=True)


def test_hostile_reports_execute_nothing(admin: Watched, live_url: str, site: Any) -> None:
    page = admin.page
    pages = {
        "overview": f"{live_url}/",
        "hostile-domain": f"{live_url}/domains/{quote(site.hostile_domain)}",
        "reports": f"{live_url}/reports",
        "hostile-report": f"{live_url}/reports/{site.hostile_report_pk}",
        "shipped-hostile-report": f"{live_url}/reports/{site.shipped_hostile_pk}",
    }
    for name, url in pages.items():
        answer = page.goto(url)
        assert answer is not None and answer.status == 200, name
        page.wait_for_load_state("load")
        assert_nothing_ran(admin)
        page.screenshot(path=str(ARTIFACTS / f"hostile-{name}.png"), full_page=True)
    # The payloads are shown as text.
    page.goto(pages["hostile-report"])
    assert "<script>window.__pwned='org'</script>" in page.locator("#organization").inner_text()
    assert "window.__pwned='report-id'" in page.locator("#raw-json").inner_text()
    page.goto(pages["shipped-hostile-report"])
    assert page.locator("#organization").inner_text() == "<script>alert('org')</script>"


def test_usable_on_a_phone(browser: Any, live_url: str, admin: Watched) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.add_cookies(admin.page.context.cookies())
    page = context.new_page()
    page.goto(f"{live_url}/domains/example.com")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling of the page itself
    assert page.locator("#daily-chart").bounding_box()["width"] <= 390
    page.screenshot(path=str(ARTIFACTS / "domain-phone.png"), full_page=False)
    context.close()


def _rgb(css: str) -> tuple[float, ...]:
    found = re.findall(r"[\d.]+", css)
    return tuple(float(v) for v in found[:3])


def _contrast(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio of two computed CSS colours."""

    def luminance(rgb: tuple[float, ...]) -> float:
        linear = [
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in (v / 255 for v in rgb)
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(_rgb(fg)), luminance(_rgb(bg))), reverse=True)
    return (high + 0.05) / (low + 0.05)


# Text, badges and links whose contrast the colour system promises (WCAG AA).
CONTRAST_CHECKS = """() => Array.from(document.querySelectorAll(
    'body, .badge, .health, a, .period, .counts li, th, .why')).slice(0, 400).map(el => {
    let bg = 'rgba(0, 0, 0, 0)';
    for (let n = el; n && bg.endsWith(', 0)'); n = n.parentElement)
        bg = getComputedStyle(n).backgroundColor;
    return [el.className || el.tagName, getComputedStyle(el).color, bg];
})"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_both_schemes_keep_aa_contrast(
    browser: Any, live_url: str, admin: Watched, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, color_scheme=scheme)
    context.add_cookies(admin.page.context.cookies())
    page = context.new_page()
    for name, path in (("overview", "/?days=90"), ("domain", "/domains/shop.example.net")):
        page.goto(f"{live_url}{path}")
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        dark = sum(_rgb(background)) < 3 * 128
        assert dark == (scheme == "dark"), background
        for what, fg, bg in page.evaluate(CONTRAST_CHECKS):
            assert _contrast(fg, bg) >= 4.5, (name, what, fg, bg)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{scheme}.png"), full_page=True)
    context.close()


# What sticks out of a 375 px page (for the failure message).
WIDE = """() => Array.from(document.querySelectorAll('*')).filter(
    e => e.getBoundingClientRect().right > 376).slice(0, 8).map(
    e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def test_the_overview_on_a_phone_shows_verdict_and_alerts_first(
    browser: Any, live_url: str, admin: Watched
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    context.add_cookies(admin.page.context.cookies())
    page = context.new_page()
    page.goto(f"{live_url}/?days=90")
    wide = page.evaluate(WIDE)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375, wide
    card = page.locator("tr[data-domain='shop.example.net']")
    boxes = {
        field: card.locator(f"[data-field={field}]").bounding_box()
        for field in ("readiness", "alerts", "sessions")
    }
    for box in boxes.values():
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    # a card: the verdict, then the alerts, above the numbers
    assert boxes["readiness"]["y"] < boxes["alerts"]["y"] < boxes["sessions"]["y"]
    assert card.locator(".verdict-not-ready").is_visible()
    label = page.evaluate(
        "el => getComputedStyle(el, '::before').content",
        card.locator("[data-field=alerts]").element_handle(),
    )
    assert label == '"Alerts"'  # each cell names its column
    page.screenshot(path=str(ARTIFACTS / "overview-phone.png"), full_page=True)
    page.goto(f"{live_url}/reports")
    wide = page.evaluate(WIDE)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375, wide
    page.screenshot(path=str(ARTIFACTS / "reports-phone.png"), full_page=False)
    context.close()
