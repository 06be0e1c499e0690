"""Database URLs as users write them, mapped to the drivers tlsrpt ships.

`sqlite:///path` and `postgresql://user@host/db` (or `postgres://`) work as
given; a bare file path means a SQLite file. Without `--db`, the
`TLSRPT_DATABASE_URL` environment variable, else a SQLite file in the
user's data directory.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.engine import URL

from tlsrpt.store.location import ENV_VAR, default_database_path


class StoreError(Exception):
    """The database cannot be used: bad URL, unreachable, wrong schema."""


def resolve_url(value: str | None = None) -> URL:
    """`--db` value, else $TLSRPT_DATABASE_URL, else the default SQLite file."""
    text = value or os.environ.get(ENV_VAR)
    if text:
        return normalize_url(text)
    path = default_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite+pysqlite", database=str(path))


_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}
_POSTGRES_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}


def normalize_url(text: str) -> URL:
    """Map a user's URL to the SQLAlchemy driver tlsrpt uses for it."""
    text = text.strip()
    if "://" not in text:  # a plain path: a SQLite file
        if not text:
            raise StoreError("empty database URL")
        return URL.create("sqlite+pysqlite", database=text)
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"not a database URL: {text!r}") from exc
    name = url.drivername.lower()
    if name in _SQLITE_DRIVERS:
        if not url.database or url.database == ":memory:":
            raise StoreError("an in-memory SQLite database keeps nothing; give a file path")
        return url.set(drivername="sqlite+pysqlite")
    if name in _POSTGRES_DRIVERS:
        return url.set(drivername="postgresql+psycopg")
    raise StoreError(
        f"unsupported database URL scheme {url.drivername!r}: "
        "use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def display_url(url: URL) -> str:
    """The URL as a user writes it (no driver name), any password hidden."""
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)
