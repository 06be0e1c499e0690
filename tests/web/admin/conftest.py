"""The admin console over an empty database (SQLite and PostgreSQL) with an
admin and a customer; in-process clients logged in as each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store
from tlsrpt.store.users import add_user
from tlsrpt.web.app import create_app

PASSWORD = "correct horse battery"
ADMIN, CUSTOMER = "admin@example.com", "customer@example.net"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browser:
    """A client with a session: its CSRF token goes into every form."""

    client: TestClient
    csrf: str

    def post(
        self, path: str, data: dict[str, str] | None = None, files: Any = None
    ) -> httpx.Response:
        form = {"csrf": self.csrf, **(data or {})}
        return self.client.post(path, data=form, files=files, follow_redirects=False)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Logs in through the form; returns the session's CSRF token."""
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"email": email, "password": password, "csrf": token.group(1), "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    found = CSRF.search(client.get("/explanations").text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def people(store: Store) -> Store:
    with store.write() as conn:
        add_user(conn, ADMIN, PASSWORD, admin=True)
        add_user(conn, CUSTOMER, PASSWORD, admin=False)
    return store


def _browser(store: Store, email: str) -> Iterator[Browser]:
    with TestClient(create_app(Settings(), store)) as client:
        yield Browser(client, login(client, email))


@pytest.fixture
def admin(people: Store) -> Iterator[Browser]:
    yield from _browser(people, ADMIN)


@pytest.fixture
def customer(people: Store) -> Iterator[Browser]:
    yield from _browser(people, CUSTOMER)
