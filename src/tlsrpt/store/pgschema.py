"""A PostgreSQL schema of its own on a shared server: what the tests and
benchmarks use to keep their databases apart (and what a deployment can use
to host several tlsrpt databases in one PostgreSQL database)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import sqlalchemy as sa

from tlsrpt.store.url import normalize_url


def schema_url(base: str, schema: str) -> str:
    """`base` with its search_path set to `schema` (libpq `options`)."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def temporary_schema(base: str, prefix: str = "tlsrpt_tmp") -> Iterator[str]:
    """A fresh, empty schema on the server of `base`, yielded as a URL and
    dropped at the end (failing, not hanging, if a session still holds locks)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield schema_url(base, schema)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
