"""Exact sums of session counts in read queries, on every database."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Session counts are summed exactly on every database (RFC 8460 §4.4 counts,
# up to 2^63-1 in a 64-bit roll-up row: 2^23 reports at the bound of
# `tlsrpt.report.Limits.max_sessions`). A query runs with plain SUM()
# first: exact on PostgreSQL (numeric), and on SQLite as long as the sum
# fits 64 bits. Past that SQLite refuses it ("integer overflow"; TOTAL()
# would be a float): the query runs again with each count summed as its
# high and its low 32 bits, two sums that stay below 2^63 for up to 2^31
# rows, joined in Python. (Splitting every time cost 12 % of the CPU time
# of the overview's aggregate queries on SQLite, 20 % with the joins,
# measured: only a store holding such sums pays for them.)
_HALF = 32
_HIGH, _LOW = "_exact_sum_high_", "_exact_sum_low_"
SumOf = Callable[[sa.ColumnElement[Any]], tuple[sa.ColumnElement[Any], ...]]
# A result row of any width. SQLAlchemy types a row by its columns' types
# (`Row[int, str]`); the tables' columns are untyped, so each is Any.
AnyRow: TypeAlias = "sa.Row[*tuple[Any, ...]]"


def _plain_sum(column: sa.ColumnElement[Any]) -> tuple[sa.ColumnElement[Any], ...]:
    return (sa.func.sum(column),)


def summed(conn: Connection, query: Callable[[SumOf], sa.Select[Any]]) -> list[Sequence[Any]]:
    """The rows of `query(sum_of)`, where `sum_of(column)` stands for
    SUM(column) among the selected columns: an exact integer (a Decimal on
    PostgreSQL) in each row, whatever the sum."""
    try:
        return list(conn.execute(query(_plain_sum)).all())
    except sa.exc.OperationalError as exc:
        if "integer overflow" not in str(exc.orig):
            raise
    pairs = itertools.count()

    def split_sum(column: sa.ColumnElement[Any]) -> tuple[sa.ColumnElement[Any], ...]:
        n = next(pairs)
        high = sa.func.sum(column.op(">>")(sa.literal_column(str(_HALF)))).label(f"{_HIGH}{n}")
        low = sa.func.sum(column.op("&")(sa.literal_column(str(2**_HALF - 1))))
        return high, low.label(f"{_LOW}{n}")

    result = conn.execute(query(split_sum))
    highs = [i for i, key in enumerate(result.keys()) if key.startswith(_HIGH)][::-1]
    rows: list[Sequence[Any]] = []
    for row in result:
        values = list(row)
        for i in highs:
            values[i : i + 2] = [(int(values[i] or 0) << _HALF) + int(values[i + 1] or 0)]
        rows.append(values)
    return rows


def as_dict(row: AnyRow) -> dict[str, Any]:
    """A row as a plain dict (str keys: column names are a str subclass)."""
    return {str(key): value for key, value in row._mapping.items()}
