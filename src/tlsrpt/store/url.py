"""Database URLs as users write them, mapped to the drivers tlsrpt ships.

`sqlite:///path` and `postgresql://user@host/db` (or `postgres://`) work as
given; a bare file path means a SQLite file. Without `--db`, the
`TLSRPT_DATABASE_URL` environment variable, else the content of the file
named by `TLSRPT_DATABASE_URL_FILE` (a container secret holding a password;
`tlsrpt serve` and `tlsrpt watch` read both the same way), else a SQLite
file in the user's data directory.

A bare path must look like one: it holds a directory separator
(`./reports.db`, `/var/lib/tlsrpt/reports.db`), ends in `.db`, `.sqlite`
or `.sqlite3`, or names a file that exists. Anything else (`notaurl`,
`localhost`, `postgres`) is refused rather than taken as the name of a new
SQLite file in the current directory: it is far more likely a mistyped URL.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from tlsrpt.store.location import ENV_VAR, default_database_path


class StoreError(Exception):
    """The database cannot be used: bad URL, unreachable, wrong schema."""


class StoreMissing(StoreError):
    """A command that only reads found no tlsrpt database where it was told
    to look (and will not create one)."""


def resolve_url(value: str | None = None, *, create_dir: bool = True) -> URL:
    """`--db` value, else $TLSRPT_DATABASE_URL, else the file named by
    $TLSRPT_DATABASE_URL_FILE, else the default SQLite file (whose directory
    is created unless `create_dir` is false)."""
    text = value or os.environ.get(ENV_VAR) or _url_from_file(os.environ.get(ENV_VAR + "_FILE"))
    if text:
        return normalize_url(text)
    path = default_database_path()
    if create_dir:
        path.parent.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite+pysqlite", database=str(path))


def _url_from_file(path: str | None) -> str | None:
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StoreError(f"{ENV_VAR}_FILE: cannot read {path}: {reason}") from exc
    if not text:
        raise StoreError(f"{ENV_VAR}_FILE: {path} is empty")
    return text


_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}
_POSTGRES_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def _is_sqlite_path(text: str) -> bool:
    separators = {"/", os.sep, *([os.altsep] if os.altsep else [])}
    return (
        any(sep in text for sep in separators)
        or text.lower().endswith(SQLITE_SUFFIXES)
        or Path(text).is_file()
    )


def normalize_url(text: str) -> URL:
    """Map a user's URL to the SQLAlchemy driver tlsrpt uses for it."""
    text = text.strip()
    if "://" not in text:  # a plain path: a SQLite file
        if not text:
            raise StoreError("empty database URL")
        if not _is_sqlite_path(text):
            raise StoreError(
                f"{text!r} is neither a database URL nor a SQLite file path: write "
                f"sqlite:///{text} or ./{text} for a SQLite file of that name here, "
                "postgresql://USER@HOST/DB for PostgreSQL"
            )
        return URL.create("sqlite+pysqlite", database=text)
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"not a database URL: {text!r}") from exc
    name = url.drivername.lower()
    if name in _SQLITE_DRIVERS:
        if url.host:
            raise StoreError(
                f"{text!r}: a SQLite URL has no host; write sqlite:///relative/path "
                "or sqlite:////absolute/path"
            )
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
