"""A report shown as readable JSON: its raw input, or, for a user who may
not have those bytes, the part of the report they may see. Pure."""

from __future__ import annotations

import gzip

import orjson

from tlsrpt.ingest.rows import report_from_rows
from tlsrpt.report import ReportError, parse_input, sniff
from tlsrpt.report.serialize import to_json
from tlsrpt.store.report_view import ReportView


def report_json(view: ReportView, data: bytes | None) -> str:
    """The input as received (`readable_json`) when its bytes are given;
    otherwise the report rebuilt from the rows the user may see."""
    if data is not None:
        return readable_json(data, view.stored.report["report_id"])
    stored = view.stored
    report = report_from_rows(stored.report, stored.policies, stored.failures)
    return to_json(report, indent=True).decode()


def readable_json(data: bytes, report_id: str) -> str:
    """JSON as received (re-indented), gunzipped first; for a mailed report
    the attached report with `report_id`, as parsed. Text that is not JSON
    is shown as it is."""
    kind = sniff(data)
    if kind == "email":
        try:
            parsed = parse_input(data)
        except ReportError as exc:
            return f"(the message holds no readable report: {exc})"
        for found in parsed.reports:
            if found.report.report_id == report_id:
                return to_json(found.report, indent=True).decode()
        return "(the report is not in this message any more)"
    if kind == "gzip":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            return f"(cannot decompress: {exc})"
    try:
        return orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return data.decode("utf-8", errors="replace")
