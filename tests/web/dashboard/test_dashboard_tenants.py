"""Tenant isolation in the dashboard for reports that name several domains:
report list, report page, raw download and every page built from report
data show a user only the policies of their domains, with totals over
those; the input's bytes only when every policy in them is theirs."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tlsrpt.settings import Settings
from tlsrpt.store.engine import open_store
from tlsrpt.web.app import create_app

NO_RDNS = Settings(reverse_dns=False)  # no DNS off loopback in tests

# The pages show periods ending today (UTC), so the data is of yesterday.
DAY = datetime.now(UTC).date() - timedelta(days=1)
PASSWORD = "correct horse battery"
ADMIN = "admin@operator.example"
A, B, AB = "owner@customer-a.example", "owner@customer-b.example", "owner@customer-ab.example"
# Words of one domain's policies only (tests/conftest.py ALPHA, BETA).
BETA_TRACES = ("beta", "198.51.100.7", "4444")
ALPHA_TRACES = ("alpha", "192.0.2.1", "3333")
ALPHA_OK, ALPHA_FAILED, BETA_OK, BETA_FAILED = 100, 5, 200, 7
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def tenants(
    tmp_path_factory: pytest.TempPathFactory, tenant_store_builder: Callable[..., Any]
) -> Iterator[tuple[Any, Any]]:
    path = tmp_path_factory.mktemp("tenants") / "tenants.sqlite3"
    store = open_store(f"sqlite:///{path}")
    yield store, tenant_store_builder(store, DAY)
    store.close()


@pytest.fixture
def as_user(tenants: tuple[Any, Any]) -> Iterator[Callable[[str], TestClient]]:
    """A client logged in as the given user (one login per user: logins
    are rate-limited)."""
    store, _ = tenants
    app = create_app(NO_RDNS, store)
    with contextlib.ExitStack() as stack:
        clients: dict[str, TestClient] = {}

        def login(email: str) -> TestClient:
            if email in clients:
                return clients[email]
            client = stack.enter_context(TestClient(app))
            token = CSRF.search(client.get("/login").text)
            assert token is not None
            answer = client.post(
                "/login",
                data={"email": email, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
                follow_redirects=False,
            )
            assert answer.status_code == 303, answer.text
            clients[email] = client
            return client

        yield login


def _text(answer: Any) -> str:
    """The page without its random CSRF tokens (which could hold any word)."""
    assert answer.status_code == 200, answer.text
    return CSRF.sub("", answer.text)


def _no_trace(text: str, traces: tuple[str, ...]) -> None:
    for word in traces:
        assert word not in text.lower(), word


def _report_rows(html: str) -> dict[int, list[str]]:
    """The report list's rows: report key -> the cells after the link."""
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        link = re.search(r'href="/reports/(\d+)"', row)
        if link:
            cells = [
                re.sub(r"<[^>]+>", "", c).strip()
                for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
            ]
            rows[int(link.group(1))] = cells
    return rows


def test_report_list_shows_visible_domains_and_their_totals(
    as_user: Callable[[str], TestClient], tenants: tuple[Any, Any]
) -> None:
    t = tenants[1]
    html = _text(as_user(A).get("/reports", params={"days": 7}))
    _no_trace(html, BETA_TRACES)
    rows = _report_rows(html)
    assert set(rows) == {
        t.mixed,
        t.alpha_only,
        t.mail_alpha,
        t.first_alpha,
        t.noted_alpha,
        t.conflict_alpha,
    }
    # cells: report, day, organization, domains, successful, failed
    assert rows[t.mixed][3:] == ["alpha.example", f"{ALPHA_OK:,}", f"{ALPHA_FAILED:,}"]
    html = _text(as_user(B).get("/reports", params={"days": 7, "domain": "beta.example"}))
    _no_trace(html, ALPHA_TRACES)
    assert _report_rows(html)[t.mixed][3:] == ["beta.example", f"{BETA_OK:,}", f"{BETA_FAILED:,}"]
    rows = _report_rows(_text(as_user(ADMIN).get("/reports", params={"days": 7})))
    assert rows[t.mixed][3:] == [
        "alpha.example, beta.example",
        f"{ALPHA_OK + BETA_OK:,}",
        f"{ALPHA_FAILED + BETA_FAILED:,}",
    ]
    assert t.no_domain in rows
    assert as_user(A).get("/reports", params={"domain": "beta.example"}).status_code == 404


def _sessions(html: str) -> str:
    found = re.search(r"<dt>Sessions</dt><dd>([^<]*)</dd>", html)
    assert found is not None
    return found.group(1)


def test_report_page_shows_only_visible_policies(
    as_user: Callable[[str], TestClient], tenants: tuple[Any, Any]
) -> None:
    t = tenants[1]
    html = _text(as_user(A).get(f"/reports/{t.mixed}"))
    _no_trace(html, BETA_TRACES)
    assert _sessions(html) == f"{ALPHA_OK} successful, {ALPHA_FAILED} failed"
    assert "mx1.alpha.example" in html and "alpha-3333-info" in html
    assert 'id="raw-withheld"' in html
    assert 'id="raw-download"' not in html
    # The JSON shown is rebuilt from alpha's rows, not the input's.
    shown = re.search(r'<pre id="raw-json" class="raw">(.*?)</pre>', html, re.S)
    assert shown is not None and "&#34;policy-domain&#34;: &#34;alpha.example&#34;" in shown.group(
        1
    )

    html = _text(as_user(B).get(f"/reports/{t.mail_beta}"))
    _no_trace(html, ALPHA_TRACES)
    assert _sessions(html) == f"{BETA_OK} successful, {BETA_FAILED} failed"
    assert 'id="raw-download"' not in html  # but the e-mail holds alpha's report too

    html = _text(as_user(ADMIN).get(f"/reports/{t.mixed}"))
    assert (
        _sessions(html) == f"{ALPHA_OK + BETA_OK} successful, {ALPHA_FAILED + BETA_FAILED} failed"
    )
    assert "mx.beta.example" in html and "mx1.alpha.example" in html
    assert f'href="/reports/{t.mixed}/raw"' in html
    assert "beta.example-mixed.json" in html  # where it came from


def _not_found(answer: Any, pk: int) -> str:
    assert answer.status_code == 404
    return CSRF.sub("", answer.text).replace(f"report {pk} ", "report ID ")


def test_raw_download_only_when_the_whole_input_is_visible(
    as_user: Callable[[str], TestClient], tenants: tuple[Any, Any]
) -> None:
    t = tenants[1]
    missing = 10**9
    for who, pk in (
        (A, t.mixed),
        (B, t.mixed),
        (A, t.mail_alpha),
        (B, t.mail_beta),
        (B, t.again_beta),
        (A, t.noted_alpha),
        (A, t.conflict_alpha),
        (AB, t.conflict_alpha),
        (A, t.no_domain),
        (A, t.beta_only),
    ):
        client = as_user(who)
        absent = _not_found(client.get(f"/reports/{missing}/raw"), missing)
        assert _not_found(client.get(f"/reports/{pk}/raw"), pk) == absent, (who, pk)
    for who, pk in (
        (ADMIN, t.mixed),
        (AB, t.mixed),
        (ADMIN, t.mail_beta),
        (A, t.alpha_only),
        (B, t.beta_only),
        (A, t.first_alpha),
        (ADMIN, t.no_domain),
    ):
        client = as_user(who)
        assert f'href="/reports/{pk}/raw"' in _text(client.get(f"/reports/{pk}")), (who, pk)
        raw = client.get(f"/reports/{pk}/raw")
        assert raw.status_code == 200, (who, pk)
        assert raw.headers["content-type"] == "application/octet-stream"
    raw = as_user(A).get(f"/reports/{t.alpha_only}/raw").content
    assert b'"alpha-only"' in raw and b"beta" not in raw


def test_pages_from_report_data_carry_no_trace_of_the_other_domain(
    as_user: Callable[[str], TestClient],
) -> None:
    client = as_user(A)
    for path, params in (
        ("/", {"days": 7}),
        ("/domains/alpha.example", {"days": 7}),
        ("/export/failures.csv", {"domain": "alpha.example", "days": 7}),
        ("/export/daily.csv", {"domain": "alpha.example", "days": 7}),
    ):
        _no_trace(_text(client.get(path, params=params)), BETA_TRACES)
    overview = _text(client.get("/", params={"days": 7}))
    assert re.findall(r'<tr data-domain="([^"]+)"', overview) == ["alpha.example"]
    searched = _text(client.get("/", params={"q": "beta"}))
    assert re.findall(r'<tr data-domain="([^"]+)"', searched) == []
    domain = _text(client.get("/domains/alpha.example", params={"days": 7}))
    assert "mx1.alpha.example" in domain
    assert client.get("/domains/beta.example").status_code == 404
    assert client.get("/export/failures.csv", params={"domain": "beta.example"}).status_code == 404
