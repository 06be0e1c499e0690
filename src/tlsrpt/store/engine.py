"""The `Store`: one engine, read and write transactions, the same on SQLite
and PostgreSQL.

Writers are serialized per database, which keeps duplicate detection exact
and deadlock-free with any number of concurrent importers and receivers:
SQLite takes its write lock at `BEGIN IMMEDIATE`; PostgreSQL takes a
transaction-scoped advisory lock, one per schema (the database of a
deployment hosted in a schema of a shared PostgreSQL database, see
`tlsrpt.store.pgschema`): writers of other schemas never wait for it.
Readers are never blocked (WAL on SQLite, MVCC on PostgreSQL). SQLite runs
with `synchronous=FULL` so that a commit is on disk when it returns:
receivers may answer 2xx right after it.

A read-only store (`open_store(..., read_only=True)`, for the commands that
only show data) never creates or migrates a database: a missing SQLite file,
an empty schema or one at another revision is a `StoreMissing` /
`StoreError` naming what to run; SQLite connections are also `query_only`.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from tlsrpt.store.location import ENV_VAR
from tlsrpt.store.url import StoreError, StoreMissing, display_url, normalize_url, resolve_url

SQLITE_BUSY_TIMEOUT_S = 60.0
WAL_CHECKPOINT_PAGES = 10_000
WAL_KEEP_BYTES = 64 * 1024 * 1024  # the WAL file is cut back to this after a checkpoint
# The first of the two keys of the pg_advisory_xact_lock serializing the
# writers of one schema ("tlsr" in ASCII); the second is derived from the
# schema's name (`write_lock_key`).
PG_WRITE_LOCK = 0x74736C72


def _sqlite_engine(url: URL, read_only: bool = False) -> Engine:
    # More prepared statements kept than the default 128: the ingest writer's
    # multi-row INSERTs differ by their number of rows.
    engine = sa.create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "cached_statements": 512}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        if read_only:
            # Not even the journal mode changes (a tlsrpt database is WAL already).
            cursor.execute("PRAGMA query_only=ON")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            return
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache
        # Checkpoint the WAL into the database every 10,000 pages (40 MiB)
        # rather than 1,000: index pages that many commits touch are copied
        # back once instead of at nearly every large commit (a third of the
        # commit time of `tlsrpt import`, measured by benchmarks/ingest.py).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: no deadlock on lock upgrade.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        # On the DBAPI connection: SQLAlchemy's statement path costs more
        # than the BEGIN itself, once per transaction of every receiver.
        conn.connection.dbapi_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]

    return engine


def _postgres_engine(url: URL) -> Engine:
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "tlsrpt"},
    )


class Store:
    """A database holding tlsrpt data. Thread-safe; create one per process."""

    def __init__(self, url: URL | str, *, read_only: bool = False) -> None:
        self.url = normalize_url(url) if isinstance(url, str) else url
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.read_only = read_only
        self.engine = (
            _sqlite_engine(self.url, read_only) if self.is_sqlite else _postgres_engine(self.url)
        )
        self._write_lock = threading.Lock()
        self._pg_lock_key: int | None = None  # the schema's, once known

    def __repr__(self) -> str:
        return f"Store({display_url(self.url)!r})"

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed when the block exits normally,
        rolled back on any exception. Only one writer at a time."""
        if self.read_only:
            raise StoreError(f"database {self.display_url} was opened read-only")
        with self._write_lock, self._connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if not self.is_sqlite:
                    self._pg_write_lock(conn)
                yield conn

    def _pg_write_lock(self, conn: Connection) -> None:
        """The writers' advisory lock of this store's schema, for the
        transaction: tlsrpt databases in other schemas of the same
        PostgreSQL database (which share its advisory lock space) are
        written meanwhile."""
        if self._pg_lock_key is None:
            self._pg_lock_key = write_lock_key(conn.scalar(sa.select(sa.func.current_schema())))
        keys = (sa.cast(key, sa.Integer) for key in (PG_WRITE_LOCK, self._pg_lock_key))
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(*keys)))

    @contextlib.contextmanager
    def lease_write(self) -> Iterator[Connection]:
        """A write transaction for work that leases and row locks keep apart
        (claims of the watch schedule and of the notification outbox): the
        single writer on SQLite; on PostgreSQL a plain transaction without
        the writers' advisory lock, so it never waits for report ingestion."""
        if self.is_sqlite:
            with self.write() as conn:
                yield conn
            return
        if self.read_only:
            raise StoreError(f"database {self.display_url} was opened read-only")
        with self._connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """One read-only snapshot transaction."""
        with self._connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open database {self.display_url}: {db_reason(exc)}") from exc
        with conn:
            yield conn

    def refresh_statistics(self, tables: Sequence[sa.Table]) -> None:
        """After a bulk fill, on PostgreSQL: VACUUM ANALYZE of `tables`, what
        autovacuum does to a live database some time later. Until then the
        planner estimates the filled tables from what they held before
        (empty: every read plans as for a few rows) and index-only scans
        visit the heap for each row. SQLite: nothing (no statistics kept)."""
        if self.is_sqlite or not tables:
            return
        names = ", ".join(self.engine.dialect.identifier_preparer.quote(t.name) for t in tables)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {names}")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def write_lock_key(schema: str | None) -> int:
    """The second key (a signed 32-bit integer) of the writers' advisory
    lock of `schema`: the same in every process and PostgreSQL version."""
    digest = hashlib.blake2b((schema or "").encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def db_reason(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip() or type(exc.orig).__name__
    return text.splitlines()[0]


def _missing_sqlite_file(url: URL) -> StoreMissing | None:
    path = Path(url.database or "")
    if path.is_file():
        return None
    where = display_url(url)
    if url.database and not path.exists():
        return StoreMissing(
            f"no database at {where} ({path.absolute()} does not exist): check --db or "
            f"${ENV_VAR}; `tlsrpt import` or `tlsrpt db upgrade` creates one"
        )
    return StoreMissing(f"database {where}: {path} is not a file")


def open_store(url: str | None = None, *, migrate: bool = True, read_only: bool = False) -> Store:
    """Open the database named by `url` (or the environment / default) and
    bring its schema to the current revision. With `read_only`, nothing is
    created or migrated: a database that does not exist or whose schema is
    not current raises `StoreMissing` / `StoreError` instead."""
    from tlsrpt.store.migrate import ensure_current, require_current

    resolved = resolve_url(url, create_dir=not read_only)
    if read_only and resolved.get_backend_name() == "sqlite":
        missing = _missing_sqlite_file(resolved)
        if missing is not None:
            raise missing
    store = Store(resolved, read_only=read_only)
    try:
        if read_only:
            require_current(store)
        elif migrate:
            ensure_current(store)
    except sa.exc.DBAPIError as exc:
        store.close()
        raise StoreError(f"database {store.display_url}: {db_reason(exc)}") from exc
    except BaseException:
        store.close()
        raise
    return store
