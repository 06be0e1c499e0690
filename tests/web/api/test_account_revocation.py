"""Cutting people off, against a running app (uvicorn on loopback, real
HTTP): a revoked or expired token, a disabled or removed user, a changed
password and a reassigned domain take effect on the very next request.
The changes are made with the `tlsrpt` commands on the same database."""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from tlsrpt.cli import main
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.settings import Settings
from tlsrpt.store.accounts import api_tokens
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.pgschema import temporary_schema
from tlsrpt.store.users import add_domain, add_user, utc_now
from tlsrpt.web.app import create_app

PASSWORD = "correct horse battery"
ADMIN, CUSTOMER = "admin@example.com", "customer@example.net"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def report(domain: str, report_id: str) -> bytes:
    day = utc_now().date() - timedelta(days=1)
    return orjson.dumps(
        {
            "organization-name": "Sender",
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": "tlsrpt@sender.example",
            "report-id": report_id,
            "policies": [
                {
                    "policy": {"policy-type": "sts", "policy-domain": domain},
                    "summary": {
                        "total-successful-session-count": 10,
                        "total-failure-session-count": 0,
                    },
                }
            ],
        }
    )


@dataclass
class Live:
    url: str
    db: str
    store: Store
    capsys: pytest.CaptureFixture[str]

    def cli(self, *argv: str, stdin: str | None = None) -> Any:
        """Run a `tlsrpt` command on the app's database; its JSON output."""
        self.capsys.readouterr()
        with pytest.MonkeyPatch.context() as patch:
            if stdin is not None:
                patch.setattr("sys.stdin", io.StringIO(stdin))
            assert main([*argv, "--db", self.db, "--json"]) == 0
        return orjson.loads(self.capsys.readouterr().out)

    def api(self, path: str, token: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {token}"})

    def login(self, email: str, password: str = PASSWORD) -> httpx.Client:
        client = httpx.Client(base_url=self.url)
        form = client.get("/login")
        csrf = CSRF.search(form.text)
        assert csrf is not None
        answer = client.post(
            "/login", data={"email": email, "password": password, "csrf": csrf.group(1)}
        )
        client.response = answer  # type: ignore[attr-defined]
        return client


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.sqlite3'}"
        return
    with temporary_schema(request.getfixturevalue("postgres_base"), "tlsrpt_live") as url:
        yield url


@pytest.fixture
def live(db_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[Live]:
    store = open_store(db_url)
    for domain in ("shop.example.net", "other.example.net"):
        assert ingest(store, report(domain, domain), SourceInfo("file", domain)).outcome == (
            "accepted"
        )
    with store.write() as conn:
        add_user(conn, ADMIN, PASSWORD, admin=True)
        add_user(conn, CUSTOMER, PASSWORD, admin=False)
        add_domain(conn, "shop.example.net", CUSTOMER)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(Settings(), store), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Live(f"http://127.0.0.1:{port}", db_url, store, capsys)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        store.close()


def _refused(response: httpx.Response) -> bool:
    return response.status_code == 401 and "invalid_token" in response.headers["www-authenticate"]


def test_revoked_token_is_refused_on_the_next_call(live: Live) -> None:
    kept = live.cli("token", "create", CUSTOMER)
    leaked = live.cli("token", "create", CUSTOMER)
    assert live.api("/api/v1/domains", leaked["token"]).status_code == 200
    assert live.cli("token", "revoke", str(leaked["id"]))["revoked"] == [leaked["id"]]
    answer = live.api("/api/v1/domains", leaked["token"])
    assert _refused(answer)
    assert answer.headers["content-type"] == "application/problem+json"
    assert live.api("/api/v1/domains", kept["token"]).status_code == 200  # only that one


def test_expired_token_is_refused(live: Live) -> None:
    issued = live.cli("token", "create", CUSTOMER, "--expires", "1h")
    assert live.api("/api/v1/domains", issued["token"]).status_code == 200
    with live.store.write() as conn:  # the hour passes
        conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == issued["id"])
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    assert _refused(live.api("/api/v1/domains", issued["token"]))
    (listed,) = live.cli("token", "list")["tokens"]
    assert listed["state"] == "expired"


def test_disabled_user_loses_tokens_and_sessions(live: Live) -> None:
    token = live.cli("token", "create", CUSTOMER)["token"]
    browser = live.login(CUSTOMER)
    assert browser.get("/").status_code == 200
    assert live.cli("user", "disable", CUSTOMER)["sessions_ended"] == 1

    assert _refused(live.api("/api/v1/domains", token))
    answer = browser.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    again = live.login(CUSTOMER)
    assert again.response.status_code == 401  # type: ignore[attr-defined]
    assert again.get("/", follow_redirects=False).status_code == 303

    live.cli("user", "enable", CUSTOMER)
    assert live.api("/api/v1/domains", token).status_code == 200
    assert live.login(CUSTOMER).get("/").status_code == 200


def test_removed_user_and_changed_password(live: Live) -> None:
    token = live.cli("token", "create", CUSTOMER)["token"]
    browser = live.login(CUSTOMER)
    admin = live.login(ADMIN)
    live.cli("user", "passwd", ADMIN, "--password-stdin", stdin="another secret\n")
    assert admin.get("/", follow_redirects=False).status_code == 303  # session ended
    assert live.login(ADMIN).response.status_code == 401  # type: ignore[attr-defined]
    assert live.login(ADMIN, "another secret").get("/").status_code == 200

    removed = live.cli("user", "remove", CUSTOMER)
    assert (removed["tokens"], removed["sessions"], removed["domains"]) == (
        1,
        1,
        ["shop.example.net"],
    )
    assert _refused(live.api("/api/v1/domains", token))
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_domain_assign_changes_what_a_customer_sees(live: Live) -> None:
    token = live.cli("token", "create", CUSTOMER)["token"]

    def seen() -> list[str]:
        answer = live.api("/api/v1/domains?days=7", token)
        assert answer.status_code == 200, answer.text
        return [d["domain"] for d in answer.json()["domains"]]

    assert seen() == ["shop.example.net"]
    assert live.api("/api/v1/domains/other.example.net", token).status_code == 404
    live.cli("domain", "assign", "other.example.net", CUSTOMER)
    live.cli("domain", "remove", "shop.example.net", "--owner", CUSTOMER)
    assert seen() == ["other.example.net"]
    assert live.api("/api/v1/domains/shop.example.net", token).status_code == 404
    detail = live.api("/api/v1/domains/other.example.net", token)
    assert detail.status_code == 200
    browser = live.login(CUSTOMER)
    assert "other.example.net" in browser.get("/").text
    live.cli("domain", "assign", "other.example.net", "--none")
    assert seen() == []
    assert live.api("/api/v1/domains/other.example.net", token).status_code == 404
