"""The admin console over a database holding an admin and a customer (reset
before each test); in-process clients logged in as each. The store functions behind it are tested on both backends in
tests/store."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.web.dashboard.conftest import CSRF, PASSWORD
from tests.web.dashboard.conftest import login as form_login

from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.users import add_user
from tlsrpt.web.app import create_app

ADMIN, CUSTOMER = "admin@example.com", "customer@example.net"


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


def login(client: TestClient, email: str) -> str:
    """Logs in through the form; returns the session's CSRF token."""
    form_login(client, email, PASSWORD)
    found = CSRF.search(client.get("/explanations").text)
    assert found is not None
    return found.group(1)


@dataclass
class Served:
    """One app a module (starting one costs seconds: it spawns the ingest
    child) over a database reset to `template` before each test."""

    app: FastAPI
    store: Store
    path: Path
    template: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("admin")
    template = folder / "template.sqlite3"
    store = open_store(f"sqlite:///{template}")
    with store.write() as conn:
        add_user(conn, ADMIN, PASSWORD, admin=True)
        add_user(conn, CUSTOMER, PASSWORD, admin=False)
    store.close()
    path = folder / "admin.sqlite3"
    shutil.copyfile(template, path)
    store = open_store(f"sqlite:///{path}")
    app = create_app(Settings(reverse_dns=False), store)  # no DNS off loopback in tests
    with TestClient(app):  # runs the app's start-up and shut-down
        yield Served(app, store, path, template)
    store.close()


@pytest.fixture
def people(served: Served) -> Store:
    """The module's database, holding only the admin and the customer."""
    with sqlite3.connect(served.template) as source, sqlite3.connect(served.path) as target:
        source.backup(target)
    return served.store


# Each browser its own client address: the module's one app limits logins
# per address (10, then one every 6 s), and its tests log in more often.
_ADDRESSES = (f"127.0.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def _browser(served: Served, email: str) -> Browser:
    # the app is running already: no start-up
    client = TestClient(served.app, client=(next(_ADDRESSES), 50000))
    return Browser(client, login(client, email))


@pytest.fixture
def admin(served: Served, people: Store) -> Browser:
    return _browser(served, ADMIN)


@pytest.fixture
def customer(served: Served, people: Store) -> Browser:
    return _browser(served, CUSTOMER)
