"""Every stored policy domain has a reachable dashboard page and API detail,
however long or odd its name: the parser keeps what a report wrote, so the
routes take any name as one percent-encoded path segment."""

from __future__ import annotations

import html
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.users import User, add_user, create_token, visible_domains
from tlsrpt.web.app import create_app

NO_RDNS = Settings(reverse_dns=False)  # no DNS off loopback in tests

PASSWORD = "correct horse battery"
LONG = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 63, "e" * 44])  # 300 characters
ODD = [
    LONG,
    "odd/slash.example",
    "odd%2fslash.example",  # not the one above: decoded exactly once
    "100%/../up?q=1#frag.example",
    "ünïcödé.example",
    "<script>alert(1)</script>.example",
]
DAY = datetime.now(UTC).date() - timedelta(days=1)  # the pages' periods end today


def _report(domain: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "organization-name": "Google Inc.",
            "date-range": {
                "start-datetime": f"{DAY}T00:00:00Z",
                "end-datetime": f"{DAY}T23:59:59Z",
            },
            "contact-info": "smtp-tls-reporting@google.com",
            "report-id": f"odd-{n}",
            "policies": [
                {
                    "policy": {"policy-type": "sts", "policy-domain": domain},
                    "summary": {
                        "total-successful-session-count": 10,
                        "total-failure-session-count": 1,
                    },
                    "failure-details": [
                        {
                            "result-type": "certificate-expired",
                            "sending-mta-ip": "192.0.2.1",
                            "receiving-mx-hostname": "mx.example",
                            "failed-session-count": 1,
                        }
                    ],
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path_factory.mktemp('odd') / 'odd.sqlite3'}")
    for n, domain in enumerate(ODD):
        result = ingest(opened, _report(domain, n), SourceInfo("file", f"odd-{n}"))
        assert result.outcome == "accepted", result.reason
    with opened.write() as conn:
        add_user(conn, "admin@example.com", PASSWORD, admin=True)
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(NO_RDNS, store)) as c:
        yield c


def test_the_parser_kept_every_name_as_written(store: Store) -> None:
    with store.read() as conn:
        names = visible_domains(conn, User(0, "admin@example.com", True))
    assert sorted(names) == sorted(ODD)
    assert len(LONG) == 300


def _login(client: TestClient | httpx.Client) -> None:
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    answer = client.post(
        "/login",
        data={"email": "admin@example.com", "password": PASSWORD, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def _href(page: str, pattern: str) -> str:
    found = re.search(pattern, page)
    assert found is not None, pattern
    return html.unescape(found.group(1))


def test_every_domain_page_is_reachable_from_the_overview(client: TestClient) -> None:
    _login(client)
    overview = client.get("/", params={"days": 7}).text
    assert "<script>alert" not in overview
    for domain in ODD:
        row = re.escape(html.escape(domain))
        link = _href(overview, rf'<tr data-domain="{row}">\s*<th scope="row"><a href="([^"]+)"')
        assert link.startswith("/domains/") and "/" not in link.removeprefix("/domains/")
        page = client.get(link)
        assert page.status_code == 200, (domain, page.text[:300])
        assert f"<h1>{html.escape(domain)}</h1>" in page.text
        assert "<script>alert" not in page.text
        for kind in ("daily.csv", "failures.csv"):
            download = client.get(_href(page.text, rf'href="(/export/{kind}\?[^"]+)"'))
            assert download.status_code == 200, (domain, kind)
        reports = client.get(_href(page.text, r'href="(/reports\?domain=[^"]+)"'))
        assert reports.status_code == 200 and "Google Inc." in reports.text
        # Back to the same page from the report list's link.
        assert _href(reports.text, r'<a href="(/domains/[^"]+)">') == link.split("?")[0]


def test_a_domain_written_with_plain_slashes_is_found_too(client: TestClient) -> None:
    _login(client)
    page = client.get("/domains/odd/slash.example")
    assert page.status_code == 200
    assert "<h1>odd/slash.example</h1>" in page.text


def test_every_domain_has_an_api_detail(client: TestClient, store: Store) -> None:
    with store.write() as conn:
        token = create_token(conn, "admin@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/domains", params={"days": 7}, headers=headers).json()["domains"]
    assert {d["domain"] for d in listed} == set(ODD)
    for item in listed:
        domain = item["domain"]
        base = f"/api/v1/domains/{quote(domain, safe='')}"
        detail = client.get(base, params={"days": 7}, headers=headers)
        assert detail.status_code == 200, (domain, detail.text)
        body: dict[str, Any] = detail.json()
        assert body["domain"] == domain and body["failed_sessions"] == 1
        assert body["readiness"] == item["readiness"]
        daily = client.get(f"{base}/daily", params={"days": 7}, headers=headers)
        assert daily.status_code == 200 and daily.json()["domain"] == domain
        failures = client.get(f"{base}/failures", params={"days": 7}, headers=headers)
        assert failures.status_code == 200 and failures.json()["domain"] == domain
        assert len(failures.json()["failures"]) == 1
        reports = client.get(
            "/api/v1/reports", params={"domain": domain, "days": 7}, headers=headers
        )
        assert reports.status_code == 200 and len(reports.json()["reports"]) == 1


@pytest.fixture(scope="module")
def live_url(store: Store) -> Iterator[str]:
    """A real uvicorn server on loopback: it decodes the path once, as servers do."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(NO_RDNS, store), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()


def test_odd_names_through_a_real_server(live_url: str, store: Store) -> None:
    with store.write() as conn:
        token = create_token(conn, "admin@example.com")
    with httpx.Client(base_url=live_url, headers={"Authorization": f"Bearer {token}"}) as api:
        for domain in ODD:
            detail = api.get(f"/api/v1/domains/{quote(domain, safe='')}", params={"days": 7})
            assert detail.status_code == 200, (domain, detail.text)
            assert detail.json()["domain"] == domain
    with httpx.Client(base_url=live_url) as browser:
        _login(browser)
        for domain in ODD:
            page = browser.get(f"/domains/{quote(domain, safe='')}")
            assert page.status_code == 200, domain
            assert f"<h1>{html.escape(domain)}</h1>" in page.text
