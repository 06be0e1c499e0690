"""Write-side statements of the ingest transaction, batched.

Every function takes the connection of a `Store.write()` transaction; the
caller decides what to write, these only write it.

The statements are plain SQL text built from the Core table definitions
and run on the DBAPI cursor of the transaction's connection (SQLite
executemany; PostgreSQL executemany, or COPY for many rows): SQLAlchemy's
per-statement work (~25 us) cost more than the database for the small
batches of the receivers, and per-row parameter compilation several times
the database work. Driver errors are raised as SQLAlchemy's exceptions, as
if the statement had gone through it.
Dates and times are given as text in the form SQLAlchemy stores them on
SQLite ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS.ffffff', see `db_date` and
`db_time`), which PostgreSQL reads as date and timestamp: no per-value
conversion on either side.
Keys are allocated under the write lock (`Store.write()` serializes
writers), so no RETURNING round trip is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.interfaces import DBAPICursor

from tlsrpt.store import domain_days as days
from tlsrpt.store.rows import (
    FAILURE_KEYS,
    POLICY_KEYS,
    REPORT_KEYS,
    DuplicateRow,
    FailureDetailRow,
    PolicyRow,
    RawInputRow,
    RawOutcome,
    ReportOrigin,
    ReportRow,
    RollupCounts,
    RollupKey,
)
from tlsrpt.store.schema import (
    daily_rollups,
    domain_days,
    failure_details,
    policy_results,
    raw_inputs,
    report_duplicates,
    reports,
)

T = TypeVar("T")
_CHUNK = 500  # bound parameters per IN list, far below every backend's limit
_PG_COPY_FROM = 64  # rows from which PostgreSQL gets COPY instead of executemany
_SQLITE_VARIABLES = 8_000  # bound values per SQLite statement (its limit: 32,766)

# Column lists, derived from the row types (`tlsrpt.store.rows`).
RAW_COLUMNS: tuple[str, ...] = RawInputRow._fields
OUTCOME_COLUMNS: tuple[str, ...] = RawOutcome._fields
REPORT_COLUMNS = (*REPORT_KEYS, *ReportRow._fields)
POLICY_COLUMNS = (*POLICY_KEYS, *PolicyRow._fields)
FAILURE_COLUMNS = (*FAILURE_KEYS, *FailureDetailRow._fields)
DUPLICATE_COLUMNS: tuple[str, ...] = DuplicateRow._fields
COUNT_COLUMNS: tuple[str, ...] = RollupCounts._fields
ROLLUP_KEY: tuple[str, ...] = RollupKey._fields
DOMAIN_DAY_KEY = ("policy_type", "domain", "day", "part")


class StoredRaw(NamedTuple):
    id: int
    sha256: str
    outcome: str
    reason: str | None


class StoredReport(NamedTuple):
    id: int | None  # None: stored once, its rows since removed by retention
    dedup_key: str
    content_sha256: str


class CountOverflow(Exception):
    """A daily roll-up count would pass 2^63-1: the increment is refused
    (the transaction must be rolled back)."""


def _execute(conn: Connection, sql: str, params: Any = (), *, many: bool = False) -> DBAPICursor:
    """Run one statement on the connection's DBAPI cursor, in its
    transaction; driver errors come out as `sqlalchemy.exc.DBAPIError`."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with _as_sqlalchemy_errors(conn, sql, params):
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    return cursor


@contextlib.contextmanager
def _as_sqlalchemy_errors(conn: Connection, sql: str, params: Any) -> Iterator[None]:
    """Driver errors as SQLAlchemy raises them; a value the driver cannot
    bind at all (sqlite3: an integer beyond 64 bits raises a bare
    OverflowError) as `sqlalchemy.exc.DataError`, the database's refusal."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance(
            sql, params, exc, dbapi_error, dialect=conn.dialect
        ) from exc
    except OverflowError as exc:
        raise sa.exc.DataError(sql, None, exc, hide_parameters=True) from exc


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def db_time(moment: datetime) -> str:
    """A naive UTC datetime as stored (SQLAlchemy's SQLite DATETIME form)."""
    return moment.isoformat(" ", "microseconds")


def db_date(day: date) -> str:
    return day.isoformat()


def _marker(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _placeholders(dialect: Dialect, width: int) -> str:
    return ", ".join([_marker(dialect)] * width)


def _insert_sql(dialect: Dialect, table: str, columns: tuple[str, ...]) -> str:
    marks = _placeholders(dialect, len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


BIGINT_MAX = 2**63 - 1


def _upsert_set(table: sa.Table) -> str:
    """ON CONFLICT DO UPDATE: the same text on SQLite >= 3.24 and PostgreSQL.

    A sum past 2^63-1 becomes NULL, which the NOT NULL columns refuse
    (`add_rollups` says why): SQLite would silently store it as a float,
    and PostgreSQL would refuse it only as "bigint out of range"."""
    t = table.name
    return ", ".join(
        f"{c} = CASE WHEN excluded.{c} <= {BIGINT_MAX} - {t}.{c} THEN {t}.{c} + excluded.{c} END"
        for c in COUNT_COLUMNS
    )


def _copy_worthy(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> bool:
    return conn.dialect.name == "postgresql" and len(rows) >= _PG_COPY_FROM


def _copy(
    conn: Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> None:
    """PostgreSQL COPY FROM STDIN, in the connection's transaction."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with _as_sqlalchemy_errors(conn, sql, None), cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


# Session-local staging tables for set-based UPDATE / upsert after a COPY.
_STAGING = {
    "staged_rollups": "(LIKE daily_rollups)",
    "staged_domain_days": "(LIKE domain_days)",
    "staged_outcomes": (
        "(id BIGINT, outcome VARCHAR(16), kind VARCHAR(8), reason_code VARCHAR(40), "
        "reason TEXT, notes TEXT, processed_at TIMESTAMP)"
    ),
}


def _staged(
    conn: Connection, name: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    info = conn.connection.info
    if name not in info:
        _execute(
            conn, f"CREATE TEMP TABLE IF NOT EXISTS {name} {_STAGING[name]} ON COMMIT DELETE ROWS"
        )
        info[name] = True
    _execute(conn, f"DELETE FROM {name}")
    _copy(conn, name, columns, rows)


def _insert_rows(
    conn: Connection,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    tail: str = "",
) -> None:
    """INSERT (plus `tail`, e.g. ON CONFLICT) of `rows`.

    SQLite: many rows per statement (VALUES (...), (...)). The sqlite3
    module lets go of the GIL at every statement step, and executemany
    steps once per row: beside a busy event loop (the HTTP receiver) each
    of those is a thread switch and back. One statement per table and
    batch keeps the switches per batch, not per row. PostgreSQL:
    executemany (pipelined by psycopg)."""
    if conn.dialect.name != "sqlite":
        _execute(conn, f"{_insert_sql(conn.dialect, table, columns)} {tail}", rows, many=True)
        return
    width = len(columns)
    per_statement = max(1, _SQLITE_VARIABLES // width)
    group = "(" + ", ".join(["?"] * width) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        sql = head + ", ".join([group] * len(part)) + (f" {tail}" if tail else "")
        _execute(conn, sql, [value for row in part for value in row])


def bulk_insert(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    if _copy_worthy(conn, rows):
        _copy(conn, table.name, columns, rows)
    else:
        _insert_rows(conn, table.name, columns, rows)


def next_ids(conn: Connection, table: sa.Table, count: int) -> list[int]:
    """`count` fresh keys; the caller holds the write lock."""
    if not count:
        return []
    row = _execute(conn, f"SELECT MAX(id) FROM {table.name}").fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    top = row[0] or 0
    return list(range(top + 1, top + 1 + count))


def _lookup(
    conn: Connection, table: str, columns: str, key: str, values: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """Rows whose `key` is one of `values`: IN lists of _CHUNK."""
    for chunk in _chunks(values):
        marks = _placeholders(conn.dialect, len(chunk))
        sql = f"SELECT {columns} FROM {table} WHERE {key} IN ({marks})"
        yield from _execute(conn, sql, tuple(chunk)).fetchall()


def find_raw(conn: Connection, shas: Sequence[str]) -> dict[str, StoredRaw]:
    """Stored raw inputs with these SHA-256 digests."""
    rows = _lookup(conn, "raw_inputs", "id, sha256, outcome, reason", "sha256", shas)
    return {row[1]: StoredRaw(*row) for row in rows}


def insert_raw(conn: Connection, rows: Sequence[RawInputRow]) -> None:
    """rows: ids from `next_ids`."""
    bulk_insert(conn, raw_inputs, RAW_COLUMNS, rows)


def load_raw(conn: Connection, ids: Sequence[int]) -> list[sa.Row[Any]]:
    out: list[sa.Row[Any]] = []
    for chunk in _chunks(ids):
        out.extend(conn.execute(sa.select(raw_inputs).where(raw_inputs.c.id.in_(chunk))))
    return sorted(out, key=lambda r: r.id)


def set_outcomes(conn: Connection, outcomes: Sequence[tuple[int, RawOutcome]]) -> None:
    """The outcome of stored raw inputs: (raw id, outcome) pairs."""
    columns = (*OUTCOME_COLUMNS, "id")
    rows = [(*outcome, raw_id) for raw_id, outcome in outcomes]
    if _copy_worthy(conn, rows):
        _staged(conn, "staged_outcomes", columns, rows)
        sets = ", ".join(f"{c} = v.{c}" for c in OUTCOME_COLUMNS)
        _execute(
            conn, f"UPDATE raw_inputs AS r SET {sets} FROM staged_outcomes AS v WHERE r.id = v.id"
        )
    elif rows:
        mark = _marker(conn.dialect)
        sets = ", ".join(f"{c} = {mark}" for c in OUTCOME_COLUMNS)
        _execute(conn, f"UPDATE raw_inputs SET {sets} WHERE id = {mark}", rows, many=True)


def set_source_meta(conn: Connection, rows: Sequence[tuple[str | None, int]]) -> None:
    """rows: (source_meta JSON, raw id)."""
    if rows:
        mark = _marker(conn.dialect)
        _execute(
            conn, f"UPDATE raw_inputs SET source_meta = {mark} WHERE id = {mark}", rows, many=True
        )


def find_reports(conn: Connection, keys: Sequence[str]) -> dict[str, StoredReport]:
    """Stored reports by de-duplication key, also those whose rows retention
    removed (`pruned_reports`, id None): a resend of one is still a
    duplicate, never counted twice (RFC 8460 §5.3)."""
    rows = _lookup(conn, "reports", "id, dedup_key, content_sha256", "dedup_key", keys)
    found = {row[1]: StoredReport(*row) for row in rows}
    missing = [key for key in keys if key not in found]
    if missing:
        for key, content in _lookup(
            conn, "pruned_reports", "dedup_key, content_sha256", "dedup_key", missing
        ):
            found[key] = StoredReport(None, key, content)
    return found


def report_ids_of_raw(conn: Connection, raw_ids: Sequence[int]) -> dict[int, list[int]]:
    """Reports stored from, or found again in, these raw inputs."""
    out: dict[int, list[int]] = {}
    for chunk in _chunks(raw_ids):
        stored = sa.select(reports.c.raw_id, reports.c.id).where(reports.c.raw_id.in_(chunk))
        again = sa.select(report_duplicates.c.raw_id, report_duplicates.c.report_pk).where(
            report_duplicates.c.raw_id.in_(chunk)
        )
        for raw_id, report_pk in conn.execute(stored.union_all(again)):
            out.setdefault(raw_id, []).append(report_pk)
    for ids in out.values():
        ids.sort()
    return out


def insert_reports(
    conn: Connection,
    origins: Sequence[ReportOrigin],
    report_rows: Sequence[ReportRow],
    policy_rows: Sequence[Sequence[PolicyRow]],
    failure_rows: Sequence[Sequence[FailureDetailRow]],
) -> list[int]:
    """Insert reports, each with where and when it was stored, and, per
    report, its policy and failure rows. Returns the ids given."""
    ids = next_ids(conn, reports, len(report_rows))
    bulk_insert(
        conn,
        reports,
        REPORT_COLUMNS,
        [(i, *o, *r) for i, o, r in zip(ids, origins, report_rows, strict=True)],
    )
    policies = [(pk, *row) for pk, rows in zip(ids, policy_rows, strict=True) for row in rows]
    failures = [(pk, *row) for pk, rows in zip(ids, failure_rows, strict=True) for row in rows]
    bulk_insert(conn, policy_results, POLICY_COLUMNS, policies)
    bulk_insert(conn, failure_details, FAILURE_COLUMNS, failures)
    return ids


def insert_duplicates(conn: Connection, rows: Sequence[DuplicateRow]) -> None:
    bulk_insert(conn, report_duplicates, DUPLICATE_COLUMNS, rows)


def add_rollups(conn: Connection, deltas: Mapping[RollupKey, Sequence[int]]) -> None:
    """Add the counts (`RollupCounts`: reports, successful, failed) to the
    daily roll-ups and, summed over organizations, to `domain_days`
    (`tlsrpt.store.domain_days`); applied in key order. New domains are
    added to `reported_domains`. Raises
    CountOverflow, and writes nothing, if a count would pass 2^63-1 (each
    increment is below 2^63: the parser bounds the sessions of a report,
    `Limits.max_sessions`)."""
    rows = [(*k, *c) for k, c in sorted(deltas.items())]
    _add_counts(
        conn, daily_rollups, ROLLUP_KEY, rows, "staged_rollups", "a domain, day and organization"
    )
    per_day = [(*k, 0, *c) for k, c in sorted(days.deltas(deltas).items())]
    _add_counts(
        conn, domain_days, DOMAIN_DAY_KEY, per_day, "staged_domain_days", "a domain and day"
    )
    names = sorted({(key.domain,) for key in deltas})
    if names:
        _insert_rows(conn, "reported_domains", ("domain",), names, "ON CONFLICT DO NOTHING")


def _add_counts(
    conn: Connection,
    table: sa.Table,
    key: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    staging: str,
    scope: str,
) -> None:
    """Upsert rows (key, then `COUNT_COLUMNS`) adding to the stored counts."""
    columns = (*key, *COUNT_COLUMNS)
    conflict = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {_upsert_set(table)}"
    try:
        if _copy_worthy(conn, rows):
            _staged(conn, staging, columns, rows)
            names = ", ".join(columns)
            _execute(
                conn,
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} "
                f"ORDER BY {', '.join(key)} {conflict}",
            )
        elif rows:
            _insert_rows(conn, table.name, columns, rows, conflict)
    except sa.exc.IntegrityError as exc:  # the NULL of `_upsert_set`: nothing else is refused
        refused = str(exc.orig)
        column = next((c for c in COUNT_COLUMNS if c in refused), "count")
        raise CountOverflow(
            f"the stored daily {column.replace('_', ' ')} of {scope} "
            "of this report would pass 2^63-1"
        ) from exc
