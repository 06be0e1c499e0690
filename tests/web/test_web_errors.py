"""Errors from every part of the app (receiver, API, dashboard, the
framework itself) are problem details, or escaped pages for a browser, and
every answer carries the security headers. /healthz is liveness without
I/O; /readyz reads the database."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tlsrpt.receive.settings import HttpSettings
from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.users import add_user
from tlsrpt.web.app import create_app

from .dashboard.conftest import login

HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def assert_secure(answer: Any) -> None:
    for name, value in HEADERS.items():
        assert answer.headers.get(name) == value, (answer.request.url, name)
    csp = answer.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, answer.request.url
    assert "script-src" not in csp


def assert_problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert_secure(answer)
    body: dict[str, Any] = orjson.loads(answer.content)
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'errors.sqlite3'}")
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    settings = Settings(http=HttpSettings(max_body_bytes=64 * 1024))
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as c:
        yield c


def test_receiver_errors_are_problems_with_the_headers(client: TestClient) -> None:
    assert_problem(
        client.post("/v1/reports", content=b"{}", headers={"Content-Type": "text/x"}), 415
    )
    assert_problem(
        client.post(
            "/v1/reports",
            content=b"x" * (65 * 1024),
            headers={"Content-Type": "application/tlsrpt+json"},
        ),
        413,
    )
    not_allowed = client.get("/v1/reports")
    assert_problem(not_allowed, 405)
    assert not_allowed.headers["allow"] == "POST"
    bad = assert_problem(
        client.post(
            "/v1/reports", content=b"not json", headers={"Content-Type": "application/tlsrpt+json"}
        ),
        400,
    )
    assert bad["quarantined"] is True


def logged_in(store: Store, client: TestClient) -> None:
    with store.write() as conn:
        add_user(conn, "admin@example.com", "correct horse battery", admin=True)
    login(client, "admin@example.com", "correct horse battery")


def test_framework_errors_are_problems_and_never_echo_input(
    store: Store, client: TestClient
) -> None:
    assert_problem(client.get("/no/such/path"), 404)
    assert_problem(client.get("/docs"), 404)
    assert_problem(client.get("/static/" + HOSTILE), 404)
    assert_problem(client.put("/healthz"), 405)
    logged_in(store, client)  # a page asks for a login before it reads its parameters
    too_long = client.get("/", params={"q": HOSTILE + "x" * 300})
    body = assert_problem(too_long, 422)
    assert body["errors"][0]["name"] == "q"
    assert "<script>" not in too_long.text and "xxxxx" not in too_long.text
    assert "alert" not in too_long.text


def test_a_browser_gets_escaped_error_pages_with_the_headers(
    store: Store, client: TestClient
) -> None:
    html = {"Accept": "text/html,application/xhtml+xml"}
    missing = client.get("/no/" + HOSTILE, headers=html)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert_secure(missing)
    assert "<script>" not in missing.text and "<h1>Not Found</h1>" in missing.text
    logged_in(store, client)
    too_long = client.get("/", params={"q": HOSTILE + "x" * 300}, headers=html)
    assert too_long.status_code == 422
    assert too_long.headers["content-type"].startswith("text/html")
    assert_secure(too_long)
    assert "alert" not in too_long.text and "query parameter q" in too_long.text
    # The API and the receiver answer problem details whatever a client accepts.
    assert_problem(client.get("/api/v1/domains", headers=html), 401)
    assert_problem(client.get("/v1/reports", headers=html), 405)


def test_every_kind_of_success_carries_the_headers(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/login"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert_secure(answer)
        assert answer.headers["cache-control"] == "no-store"
    redirect = client.get("/", follow_redirects=False)
    assert redirect.status_code == 303
    assert_secure(redirect)
    stylesheet = client.get("/static/style.css")
    assert stylesheet.status_code == 200
    assert_secure(stylesheet)
    assert "cache-control" not in stylesheet.headers  # the same for everyone: cacheable


def test_an_unexpected_exception_is_a_500_problem_with_the_headers(store: Store) -> None:
    app = create_app(Settings(), store)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/boom")
    body = assert_problem(answer, 500)
    assert "secret" not in answer.text and "Traceback" not in answer.text
    assert body["detail"] == "an internal error; it was logged"


def test_login_rate_limit_is_a_problem_with_the_headers(client: TestClient) -> None:
    statuses = []
    for _ in range(12):
        answer = client.post("/login", data={"email": "a@example.com", "password": "x"})
        statuses.append(answer.status_code)
    assert statuses[-1] == 429, statuses
    assert_problem(answer, 429)
    assert int(answer.headers["retry-after"]) >= 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: nothing listens there


def test_readyz_reads_the_database_and_healthz_does_not() -> None:
    store = Store(f"postgresql://postgres@127.0.0.1:{_closed_port()}/tlsrpt")
    try:
        with TestClient(create_app(Settings(), store)) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            not_ready = client.get("/readyz")
            body = assert_problem(not_ready, 503)
            assert body["detail"] == "the database is unavailable"
            assert "127.0.0.1" not in not_ready.text  # no connection details to anyone
    finally:
        store.close()


def test_readyz_is_503_while_the_schema_is_not_current(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.sqlite3'}")  # never migrated
    try:
        with TestClient(create_app(Settings(), store)) as client:
            assert client.get("/healthz").status_code == 200
            body = assert_problem(client.get("/readyz"), 503)
            assert re.search(r"schema", body["detail"])
    finally:
        store.close()


def test_readyz_is_200_with_a_database(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok"}


@pytest.mark.postgres
def test_readyz_on_postgresql(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        with TestClient(create_app(Settings(), store)) as client:
            assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}
    finally:
        store.close()
