"""Dashboard pages through the app: login, CSRF, sessions, per-customer
visibility, the numbers shown, escaping of hostile report strings, CSV
exports and quarantine retry."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from tlsrpt.web.dashboard.auth import SESSION_COOKIE, safe_next
from tlsrpt.web.dashboard.routes import PAGE_SIZE

ADMIN, CUSTOMER, PASSWORD = "admin@example.com", "customer@example.net", "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _login(client: TestClient, email: str, password: str = PASSWORD, next: str = "/") -> Any:
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf": token.group(1), "next": next},
        follow_redirects=False,
    )


def test_pages_need_a_login(client: TestClient) -> None:
    for path in ("/", "/domains/example.com", "/reports", "/reports/1", "/quarantine"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")


def test_login_sets_a_strict_httponly_session(client: TestClient) -> None:
    answer = _login(client, ADMIN, next="/reports")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/reports"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/").status_code == 200


def test_wrong_password_and_missing_csrf_are_refused(client: TestClient) -> None:
    assert _login(client, ADMIN, "wrong password").status_code == 401
    assert _login(client, "nobody@example.com").status_code == 401
    answer = client.post(
        "/login",
        data={"email": ADMIN, "password": PASSWORD, "csrf": "forged"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_logout_needs_the_session_csrf_token(client: TestClient) -> None:
    _login(client, ADMIN)
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200
    token = CSRF.search(client.get("/").text)
    assert token is not None
    assert (
        client.post("/logout", data={"csrf": token.group(1)}, follow_redirects=False).status_code
        == 303
    )
    assert client.get("/", follow_redirects=False).status_code == 303


def test_next_only_goes_to_this_site() -> None:
    assert safe_next("/domains/example.com?days=7") == "/domains/example.com?days=7"
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None):
        assert safe_next(hostile) == "/"


def test_security_headers(client: TestClient) -> None:
    _login(client, ADMIN)
    answer = client.get("/")
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


def _row_fields(html: str, domain: str) -> dict[str, str]:
    row = re.search(rf'<tr data-domain="{re.escape(domain)}">(.*?)</tr>', html, re.S)
    assert row is not None, domain
    return dict(re.findall(r'data-field="([^"]+)">\s*(.*?)\s*</td>', row.group(1), re.S))


def test_overview_numbers_match_the_api(client: TestClient, site: Any) -> None:
    _login(client, ADMIN)
    html = client.get("/", params={"days": 30}).text
    from tlsrpt.store.reads import overview, period_of
    from tlsrpt.store.users import User

    with site.store.read() as conn:
        rows = overview(conn, User(0, "t", True), period_of(30))
    assert rows
    for o in rows:
        fields = _row_fields(
            html,
            o.analysis.domain.replace("&", "&amp;")
            .replace('"', "&#34;")
            .replace("'", "&#39;")
            .replace("<", "&lt;")
            .replace(">", "&gt;"),
        )
        assert fields["sessions"] == f"{o.analysis.sessions:,}"
        assert fields["failed"] == f"{o.analysis.failed_sessions:,}"
        assert str(o.readiness.verdict) in fields["readiness"]


def test_a_customer_sees_only_its_domains(client: TestClient, site: Any) -> None:
    _login(client, CUSTOMER)
    html = client.get("/").text
    assert re.findall(r'<tr data-domain="([^"]+)"', html) == ["shop.example.net"]
    assert client.get("/domains/example.com").status_code == 404
    assert client.get("/domains/shop.example.net").status_code == 200
    assert client.get("/export/daily.csv", params={"domain": "example.com"}).status_code == 404
    assert client.get(f"/reports/{site.hostile_report_pk}").status_code == 404
    assert client.get("/reports", params={"domain": "example.com"}).status_code == 404
    assert client.get("/quarantine").status_code == 403
    assert "Quarantine</a>" not in html


SVG = {"s": "http://www.w3.org/2000/svg"}


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (pygal's output, no DTD)


def test_domain_page_chart_has_the_daily_numbers(client: TestClient, site: Any) -> None:
    _login(client, ADMIN)
    html = client.get("/domains/shop.example.net", params={"days": 7}).text
    svg = re.search(r'<svg [^>]*id="daily-chart".*?</svg>', html, re.S)
    assert svg is not None
    chart = _svg(svg.group(0))
    drawn: dict[str, list[str | None]] = {}
    for serie in (0, 1):
        for bar in chart.findall(
            f".//s:g[@class='series serie-{serie} color-{serie}']/s:g/s:g", SVG
        ):
            day = bar.findtext("s:desc[@class='x_label']", namespaces=SVG) or ""
            drawn.setdefault(day, []).append(bar.findtext("s:title", namespaces=SVG))
    daily = client.get("/export/daily.csv", params={"domain": "shop.example.net", "days": 7})
    rows = list(csv.DictReader(io.StringIO(daily.text)))
    assert len(rows) == len(drawn) == 7
    expected = {
        r["day"]: [f"{r['day']}: no report"] * 2
        if r["successful_sessions"] == ""
        else [
            f"{r['day']}: {int(r['successful_sessions']):,} successful sessions",
            f"{r['day']}: {int(r['failed_sessions']):,} failed sessions",
        ]
        for r in rows
    }
    assert drawn == expected
    assert ("certificate-expired" in html and "Certificate expired" in html) or "expired" in html
    assert "mx2.shop.example.net" in html
    assert 'class="badge verdict-not-ready"' in html


def test_overview_sparklines_draw_the_daily_failure_rates(client: TestClient, site: Any) -> None:
    from tlsrpt.store.reads import overview, period_of
    from tlsrpt.store.users import User

    _login(client, ADMIN)
    html = client.get("/", params={"days": 30}).text
    with site.store.read() as conn:
        rows = {o.analysis.domain: o for o in overview(conn, User(0, "t", True), period_of(30))}
    for domain in ("example.com", "shop.example.net"):
        row = re.search(rf'<tr data-domain="{re.escape(domain)}">(.*?)</tr>', html, re.S)
        assert row is not None
        img = re.search(r'<img class="spark" src="([^"]+)"[^>]* alt="([^"]+)"', row.group(1))
        assert img is not None
        rates = [p.failure_rate for p in rows[domain].analysis.daily]
        answer = client.get(img.group(1).replace("&amp;", "&"))
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/svg+xml"
        assert answer.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        )
        assert "<script" not in answer.text
        spark = _svg(answer.text)
        values = [
            d.findtext("s:desc[@class='value']", namespaces=SVG)
            for d in spark.findall(".//s:g[@class='dots']", SVG)
        ]
        assert values == [f"{r:.2%}" for r in rates if r is not None]
        assert img.group(2) == spark.findtext("s:title", namespaces=SVG)


def test_sparkline_route_refuses_anything_but_rates(client: TestClient) -> None:
    assert client.get("/charts/failure-rate.svg?r=0.1", follow_redirects=False).status_code == 303
    _login(client, ADMIN)
    assert client.get("/charts/failure-rate.svg", params={"r": "0.1,,0.2"}).status_code == 200
    for bad in ("<script>", "2", "nan", "0.1," * 400):
        assert client.get("/charts/failure-rate.svg", params={"r": bad}).status_code == 404


# What a payload looks like when it is not escaped.
RAW_MARKUP = ("<script>window.__pwned", "<img src=x", 'onerror="window', 'href="javascript:')


def _assert_escaped(html: str) -> None:
    for raw in RAW_MARKUP:
        assert raw not in html, raw
    assert "&lt;script&gt;window.__pwned" in html  # shown, as text


def test_hostile_strings_are_escaped_everywhere(client: TestClient, site: Any) -> None:
    _login(client, ADMIN)
    pages = [
        client.get("/"),
        client.get("/domains/" + quote(site.hostile_domain)),
        client.get("/reports"),
        client.get(f"/reports/{site.hostile_report_pk}"),
    ]
    for page in pages:
        assert page.status_code == 200, page.url
        _assert_escaped(page.text)
    shipped = client.get(f"/reports/{site.shipped_hostile_pk}").text
    for raw in RAW_MARKUP:
        assert raw not in shipped
    assert "&lt;script&gt;alert(&#39;org&#39;)&lt;/script&gt;" in shipped
    assert "<svg onload" not in shipped and "&lt;svg onload=alert(2)&gt;" in shipped
    domain_page = pages[1].text
    assert "window.__pwned=&#39;result-type&#39;" in domain_page  # the result type, as text
    assert '<g class="bar"' in domain_page


def test_csv_export_neutralizes_formulas(client: TestClient, site: Any) -> None:
    _login(client, ADMIN)
    answer = client.get("/export/failures.csv", params={"domain": site.hostile_domain, "days": 30})
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows
    reasons = [r["failure_reason_code"] for r in rows]
    assert all(r.startswith("'=") for r in reasons), reasons
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_quarantine_retry(client: TestClient) -> None:
    _login(client, ADMIN)
    page = client.get("/quarantine")
    assert page.status_code == 200
    raw_id = re.search(r'action="/quarantine/(\d+)/retry"', page.text)
    assert raw_id is not None
    assert (
        client.post(f"/quarantine/{raw_id.group(1)}/retry", data={"csrf": "forged"}).status_code
        == 403
    )
    token = CSRF.search(page.text)
    assert token is not None
    retried = client.post(f"/quarantine/{raw_id.group(1)}/retry", data={"csrf": token.group(1)})
    assert retried.status_code == 200
    assert f"Raw input #{raw_id.group(1)}: quarantined" in retried.text


def test_login_is_rate_limited(client: TestClient) -> None:
    codes = [_login(client, ADMIN, "wrong password").status_code for _ in range(12)]
    assert codes[:10] == [401] * 10
    assert codes[-1] == 429


def test_overview_pages_and_search(tmp_path: Any) -> None:
    from tlsrpt.settings import Settings
    from tlsrpt.store.engine import open_store
    from tlsrpt.store.users import add_domain, add_user
    from tlsrpt.web.app import create_app

    store = open_store(f"sqlite:///{tmp_path / 'many.sqlite3'}")
    with store.write() as conn:
        add_user(conn, ADMIN, PASSWORD, admin=True)
        for n in range(2 * PAGE_SIZE + 20):
            add_domain(conn, f"customer{n:03d}.example")
    with TestClient(create_app(Settings(), store)) as many:
        _login(many, ADMIN)
        first = many.get("/").text
        rows = re.findall(r'<tr data-domain="([^"]+)"', first)
        assert rows == [f"customer{n:03d}.example" for n in range(PAGE_SIZE)]
        assert f'<strong id="domain-total">{2 * PAGE_SIZE + 20}</strong>' in first
        assert 'rel="next"' in first and 'rel="first"' not in first
        seen, html, pages = rows, first, 1
        while (link := re.search(r'rel="next" href="([^"]+)"', html)) is not None:
            html = many.get(link[1].replace("&amp;", "&")).text
            assert 'rel="first"' in html
            seen, pages = seen + re.findall(r'<tr data-domain="([^"]+)"', html), pages + 1
        assert pages == 3 and seen == [
            f"customer{n:03d}.example" for n in range(2 * PAGE_SIZE + 20)
        ]
        forged = many.get("/", params={"cursor": "not-a-cursor"})  # the first page instead
        assert (
            forged.status_code == 200
            and re.findall(r'<tr data-domain="([^"]+)"', forged.text) == rows
        )
        found = many.get("/", params={"q": "CUSTOMER01"}).text
        assert re.findall(r'<tr data-domain="([^"]+)"', found) == [
            f"customer0{n}.example" for n in range(10, 20)
        ]
        nothing = many.get("/", params={"q": "<script>"}).text
        assert "No domains to show matching “&lt;script&gt;”" in nothing
    store.close()


def test_api_csv_filename_keeps_a_safe_subset() -> None:
    from tlsrpt.web.api.routes import _csv

    answer = _csv([{"a": 1}], ("a",), 'evil".example\r\nSet-Cookie: x=1')
    assert answer.headers["content-disposition"] == (
        'attachment; filename="evil_.example__Set-Cookie__x_1.csv"'
    )


def test_raw_download_from_the_dashboard(client: TestClient, site: Any) -> None:
    import orjson

    _login(client, ADMIN)
    page = client.get(f"/reports/{site.hostile_report_pk}").text
    assert f'href="/reports/{site.hostile_report_pk}/raw"' in page
    raw = client.get(f"/reports/{site.hostile_report_pk}/raw")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"] == (
        f'attachment; filename="report-{site.hostile_report_pk}.json"'
    )
    assert (
        orjson.loads(raw.content)["policies"][0]["policy"]["policy-domain"] == site.hostile_domain
    )
    client.cookies.clear()
    _login(client, CUSTOMER)
    assert client.get(f"/reports/{site.hostile_report_pk}/raw").status_code == 404


def _verdict_counts(html: str) -> dict[str, int]:
    return {
        v: int(n.replace(",", ""))
        for v, n in re.findall(r'<strong id="count-([a-z-]+)">([\d,]+)</strong>', html)
    }


def _counted(client: TestClient, **params: Any) -> str:
    """The overview once its verdict counts are current (a background
    thread counts them on the first view, and again after new reports)."""
    import time

    deadline = time.monotonic() + 90  # a busy machine
    while True:
        html = client.get("/", params=params).text
        if 'id="counts-pending"' not in html and 'id="counts-stale"' not in html:
            return html
        assert time.monotonic() < deadline, "the count did not finish"
        time.sleep(0.05)


def test_readiness_counts_cover_every_visible_domain(tmp_path: Any) -> None:
    """The overview counts verdicts over all visible domains (or all that
    match a search), not the page of 50 shown: in the background, so the
    first view is not held up by them; after a new report the kept counts
    are shown, marked, until a background recount has them."""
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    import orjson

    from tlsrpt.demo import load_demo
    from tlsrpt.ingest.model import SourceInfo
    from tlsrpt.ingest.pipeline import ingest
    from tlsrpt.settings import Settings
    from tlsrpt.store.engine import open_store
    from tlsrpt.store.reads import overview, period_of
    from tlsrpt.store.users import User, add_domain, add_user
    from tlsrpt.web.app import create_app

    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    store = open_store(f"sqlite:///{tmp_path / 'verdicts.sqlite3'}")
    load_demo(store, yesterday, 60)
    with store.write() as conn:
        add_user(conn, ADMIN, PASSWORD, admin=True)
        for n in range(2 * PAGE_SIZE + 20):  # before the demo domains by name
            add_domain(conn, f"customer{n:03d}.example")

    def expected() -> Counter[str]:
        with store.read() as conn:
            every = overview(conn, User(0, "t", True), period_of(30))
        return Counter({"ready": 0, "not-ready": 0, "insufficient-data": 0}) + Counter(
            str(o.readiness.verdict) for o in every
        )

    before = expected()
    assert before["ready"] >= 1 and before["not-ready"] >= 1
    assert before["insufficient-data"] >= 2 * PAGE_SIZE + 20
    with TestClient(create_app(Settings(), store)) as many:
        _login(many, ADMIN)
        pending = many.get("/", params={"days": 30}).text
        assert 'id="counts-pending"' in pending and "<tr data-domain=" in pending
        first = _counted(many, days=30)
        assert _verdict_counts(first) == before
        assert "verdict-ready" not in first  # the ready domains are on page 3
        second = re.search(r'rel="next" href="([^"]+)"', first)
        assert second is not None
        assert _verdict_counts(many.get(second[1].replace("&amp;", "&")).text) == before
        report = {
            "organization-name": "Google Inc.",
            "date-range": {
                "start-datetime": f"{yesterday}T00:00:00Z",
                "end-datetime": f"{yesterday}T23:59:59Z",
            },
            "contact-info": "smtp-tls-reporting@google.com",
            "report-id": "late-1",
            "policies": [
                {
                    "policy": {"policy-type": "sts", "policy-domain": "customer000.example"},
                    "summary": {
                        "total-successful-session-count": 5,
                        "total-failure-session-count": 5,
                    },
                    "failure-details": [
                        {"result-type": "certificate-expired", "failed-session-count": 5}
                    ],
                }
            ],
        }
        stored = ingest(store, orjson.dumps(report), SourceInfo("file", "late"))
        assert stored.outcome == "accepted", stored.reason
        after = expected()
        assert after["not-ready"] == before["not-ready"] + 1
        assert after["insufficient-data"] == before["insufficient-data"] - 1
        # The first view after it shows the kept counts, marked, and starts a recount.
        stale = many.get("/", params={"days": 30}).text
        assert _verdict_counts(stale) == before
        assert 'id="counts-stale"' in stale and "before the latest reports" in stale
        assert _verdict_counts(_counted(many, days=30)) == after
        # A new domain changes the visible set: the same, then counted again.
        report["report-id"] = "late-2"
        report["policies"][0]["policy"]["policy-domain"] = "late.example"  # type: ignore[index]
        stored = ingest(store, orjson.dumps(report), SourceInfo("file", "late"))
        assert stored.outcome == "accepted", stored.reason
        latest = expected()
        assert latest["not-ready"] == after["not-ready"] + 1
        assert _verdict_counts(_counted(many, days=30)) == latest
        found = _counted(many, days=30, q="customer01")
        assert _verdict_counts(found) == {"ready": 0, "not-ready": 0, "insufficient-data": 10}
    store.close()
