"""Fixtures shared by every test area."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tlsrpt.store.pgschema import temporary_schema

POSTGRES_ENV = "TLSRPT_TEST_POSTGRES_URL"
POSTGRES_SKIP = (
    f"PostgreSQL tests need {POSTGRES_ENV}, e.g. "
    f"{POSTGRES_ENV}=postgresql://postgres@127.0.0.1:5432/test (scripts/test sets it)"
)


@pytest.fixture(scope="session")
def postgres_base() -> str:
    """The test server's URL; skips the test, saying how, when there is none."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(POSTGRES_SKIP)
    return url


@pytest.fixture
def postgres_url(postgres_base: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema."""
    with temporary_schema(postgres_base, "tlsrpt_test") as url:
        yield url
