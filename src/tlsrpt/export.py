"""CSV and JSON export of API/CLI tables (lists of flat dicts). Pure.

Every cell may hold attacker-controlled text from a report, so CSV cells
that a spreadsheet would read as a formula (starting with = + - @, a tab or
a carriage return) get a leading apostrophe (OWASP "CSV injection").
Numbers are written as numbers: only text is neutralized.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
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
    return json_bytes({"rows": list(rows)})


def json_bytes(value: Any) -> bytes:
    """JSON as the API and the CLI write it: orjson, anything it does not
    know as text. Integers beyond 64 bits (exact sums of many huge counts),
    which orjson refuses, take the standard library's encoder."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:  # orjson.JSONEncodeError: "Integer exceeds 64-bit range"
        return json.dumps(value, default=_text, ensure_ascii=False, separators=(",", ":")).encode()


def _text(value: Any) -> str:
    """What orjson writes for a date or time; other values as text."""
    return value.isoformat() if isinstance(value, date | datetime | time) else str(value)
