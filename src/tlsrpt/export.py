"""CSV and JSON export of API/CLI tables (lists of flat dicts). Pure.

Every cell may hold attacker-controlled text from a report, so CSV cells
that a spreadsheet would read as a formula (starting with = + - @, a tab or
a carriage return) get a leading apostrophe (OWASP "CSV injection").
Numbers are written as numbers: only text is neutralized. Timestamps are
UTC and say so: ISO 8601 with a `Z` (the database keeps them as naive UTC).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def utc_text(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`; a naive datetime is taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)  # Decimal sums of PostgreSQL, times


def json_bytes(body: Any) -> bytes:
    """`body` as JSON as the API and the CLI write it: every datetime in UTC
    with a `Z`, dates `YYYY-MM-DD`, anything else orjson does not know as
    text. Integers beyond 64 bits (exact sums of many huge counts), which
    orjson refuses, take the standard library's encoder with the same
    conversions."""
    try:
        return orjson.dumps(body, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:  # orjson.JSONEncodeError: "Integer exceeds 64-bit range"
        text = json.dumps(body, default=_json_default, ensure_ascii=False, separators=(",", ":"))
        return text.encode()


def csv_cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
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
