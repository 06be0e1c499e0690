"""A database with the demo dataset (fixed end day), an admin and a customer
with API tokens, and the app over it (in-process ASGI client)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tlsrpt.demo import load_demo
from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.pgschema import temporary_schema
from tlsrpt.store.users import add_domain, add_user, create_token
from tlsrpt.web.app import create_app

END = date(2026, 11, 28)
DAYS = 60
PASSWORD = "correct horse battery"


@dataclass
class World:
    store: Store
    client: TestClient
    admin_token: str
    customer_token: str
    end: date = END
    days: int = DAYS

    def get(self, path: str, token: str | None = None, **params: object) -> object:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(path, headers=headers, params=params)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database on each backend (PostgreSQL: a schema of its own)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("api") / "api.sqlite3"
        yield f"sqlite:///{path}"
        return
    with temporary_schema(request.getfixturevalue("postgres_base"), "tlsrpt_api") as url:
        yield url


@pytest.fixture(scope="module")
def world(db_url: str) -> Iterator[World]:
    store = open_store(db_url)
    load_demo(store, END, DAYS)
    with store.write() as conn:
        add_user(conn, "admin@example.com", PASSWORD, admin=True)
        add_user(conn, "customer@example.net", PASSWORD, admin=False)
        add_domain(conn, "shop.example.net", "customer@example.net")
        admin_token = create_token(conn, "admin@example.com")
        customer_token = create_token(conn, "customer@example.net")
    with TestClient(create_app(Settings(), store)) as client:
        yield World(store, client, admin_token, customer_token)
    store.close()
