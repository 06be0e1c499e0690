"""Each dashboard page handler is a top-level function: mounted alone on a
bare app (only `state.store`, `state.settings` and the dashboard's error
pages), it answers
as it does inside the whole dashboard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tlsrpt.settings import Settings
from tlsrpt.store.users import get_user, start_session
from tlsrpt.web.dashboard import domain_pages, quarantine_pages, report_pages
from tlsrpt.web.dashboard.auth import SESSION_COOKIE
from tlsrpt.web.dashboard.routes import ROUTES, install_errors

from .conftest import ADMIN, CUSTOMER, Site


def alone(site: Site, path: str, handler: Callable[..., Any]) -> TestClient:
    app = FastAPI()
    app.state.store = site.store
    app.state.settings = Settings(reverse_dns=False)
    install_errors(app)
    app.add_api_route(path, handler, response_model=None)
    return TestClient(app)


@pytest.fixture
def cookies(site: Site) -> dict[str, str]:
    with site.store.write() as conn:
        made = {}
        for email in (ADMIN, CUSTOMER):
            user = get_user(conn, email)
            assert user is not None
            made[email], _ = start_session(conn, user)
    return made


def test_every_route_is_a_module_level_function() -> None:
    for _method, _path, handler in ROUTES:
        assert "<locals>" not in handler.__qualname__, handler


def test_a_handler_alone_asks_for_a_login(site: Site) -> None:
    client = alone(site, "/explanations", report_pages.explanations)
    answer = client.get("/explanations", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fexplanations"


def test_a_handler_alone_renders_its_page(site: Site, cookies: dict[str, str]) -> None:
    client = alone(site, "/domains/{domain:path}", domain_pages.domain_page)
    client.cookies.set(SESSION_COOKIE, cookies[CUSTOMER])
    answer = client.get("/domains/shop.example.net?days=7")
    assert answer.status_code == 200
    assert "<h1>shop.example.net</h1>" in answer.text
    # another customer's domain is absent, like one that does not exist
    for other in ("example.com", "no-such.example"):
        missing = client.get(f"/domains/{other}")
        assert missing.status_code == 404
        assert f"domain {other}" in missing.text


def test_an_admin_handler_alone_refuses_a_customer(site: Site, cookies: dict[str, str]) -> None:
    client = alone(site, "/quarantine", quarantine_pages.quarantine)
    client.cookies.set(SESSION_COOKIE, cookies[CUSTOMER])
    assert client.get("/quarantine").status_code == 403
    client.cookies.set(SESSION_COOKIE, cookies[ADMIN])
    assert client.get("/quarantine").status_code == 200
