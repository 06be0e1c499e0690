"""CSV and JSON export of API/CLI tables (lists of flat dicts). Pure.

Every cell may hold attacker-controlled text from a report, so CSV cells
that a spreadsheet would read as a formula (starting with = + - @, a tab or
a carriage return) get a leading apostrophe (OWASP "CSV injection").
Numbers are written as numbers: only text is neutralized.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import orjson

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    return out.getvalue()


def to_json(rows: Iterable[Mapping[str, Any]]) -> bytes:
    return orjson.dumps({"rows": list(rows)}, default=str)
