"""The domain page says how each group of sessions came to be filed under
the domain ("attributed via TLS-Report-Domain"), with the policy-domain
the report named, escaped; another customer's page shows none of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.settings import Settings
from tlsrpt.store.engine import open_store
from tlsrpt.store.users import add_user
from tlsrpt.web.app import create_app

DAY = datetime.now(UTC).date() - timedelta(days=1)  # the pages end today
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CUSTOMER, OTHER = "customer.example", "other.example"
HOSTILE_HOST = "mx<script>.provider.example"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, postfix: Any) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("attribution") / "dash.sqlite3"
    store = open_store(f"sqlite:///{path}")
    with store.write() as conn:
        add_user(conn, "a@customer.example", PASSWORD, admin=False)
        add_user(conn, "b@other.example", PASSWORD, admin=False)
    postfix.register(store, CUSTOMER, [], "a@customer.example")
    postfix.register(store, OTHER, [], "b@other.example")
    smtp = SourceInfo("smtp", "127.0.0.1 to <tlsrpt@rua.example>")
    for n, host in enumerate(["mx1.provider.example", HOSTILE_HOST]):
        report = postfix.report(f"r{n}", host, DAY)
        assert ingest(store, postfix.mail(CUSTOMER, report), smtp).outcome == "accepted"
    yield create_app(Settings(), store)
    store.close()


def _page(app: Any, email: str, path: str) -> Any:
    with TestClient(app) as client:
        token = CSRF.search(client.get("/login").text)
        assert token is not None
        form = {"email": email, "password": PASSWORD, "csrf": token.group(1), "next": "/"}
        assert client.post("/login", data=form, follow_redirects=False).status_code == 303
        return client.get(path)


def test_the_domain_page_shows_how_sessions_were_attributed(app: Any) -> None:
    page = _page(app, "a@customer.example", f"/domains/{CUSTOMER}")
    assert page.status_code == 200
    table = page.text.split('<table id="attribution">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-attribution="([^"]+)">(.*?)</tr>', table, re.S)
    assert [how for how, _ in rows] == ["report-domain-header"] * 3
    cells = [re.sub(r"<[^>]+>", " ", body).split() for _, body in rows]
    assert [
        "tlsa",
        "mx1.provider.example",
        "attributed",
        "via",
        "TLS-Report-Domain",
        "1",
        "40",
        "1",
    ] in cells
    assert [
        "no-policy-found",
        "none",
        "attributed",
        "via",
        "TLS-Report-Domain",
        "2",
        "6",
        "0",
    ] in cells
    assert "mx&lt;script&gt;.provider.example" in table  # report text, escaped
    assert "<script>" not in page.text
    # the totals at the top include them: 2 reports, 2 x (40 + 3) successful
    assert 'data-field="reports">2<' in page.text
    assert 'data-field="successful">86<' in page.text


def test_another_customer_sees_none_of_it(app: Any) -> None:
    page = _page(app, "b@other.example", f"/domains/{OTHER}")
    assert page.status_code == 200
    assert 'id="attribution"' not in page.text
    assert "provider.example" not in page.text
    assert _page(app, "b@other.example", f"/domains/{CUSTOMER}").status_code == 404
