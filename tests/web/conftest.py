"""Fixtures of the web tests: the HTTP server of `tests.serving` on a SQLite
database of the test's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.serving import Running, serve, servers
from tests.serving import report_json as build_report_json

from tlsrpt.receive.settings import HttpSettings
from tlsrpt.settings import Settings


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'web.sqlite3'}"


@pytest.fixture
def server(db_url: str) -> Iterator[Running]:
    yield from serve(Settings(database_url=db_url, http=HttpSettings(max_body_bytes=64 * 1024)))


@pytest.fixture
def make_server(db_url: str) -> Iterator[Callable[..., Running]]:
    """Start a server with extra settings (at most one per test)."""
    yield from servers(db_url)


@pytest.fixture
def report_json() -> Callable[..., bytes]:
    """Builds a minimal RFC 8460 §4.4 report (JSON bytes)."""
    return build_report_json
