"""A report shown as readable JSON: its raw input, or, for a user who may
not have those bytes, the part of the report they may see; and any raw
input's bytes as a page may show them (`preview`). Pure."""

from __future__ import annotations

import gzip
from dataclasses import dataclass

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


PREVIEW_BYTES = 64 * 1024  # of a raw input shown on its page
HEX_BYTES = 4 * 1024  # of a binary one, as a hex dump


@dataclass(frozen=True, slots=True)
class Preview:
    """What the page shows of an input's bytes: its text (valid UTF-8
    without control characters but tab and line ends) or, for anything
    else, a hex dump; `shown` of its `size` bytes."""

    size: int
    shown: int
    text: str | None
    hex: str | None

    @property
    def truncated(self) -> bool:
        return self.shown < self.size


def preview(data: bytes, limit: int = PREVIEW_BYTES, hex_limit: int = HEX_BYTES) -> Preview:
    """The first `limit` bytes as text, or the first `hex_limit` as hex. The
    text is still hostile: the template escapes it like every other."""
    head = data[:limit]
    text = _text(head, whole=len(head) == len(data))
    if text is not None and not any(c < " " and c not in "\t\r\n" for c in text):
        return Preview(len(data), len(text.encode()), text, None)
    part = data[:hex_limit]
    lines = (
        f"{offset:08x}  {part[offset : offset + 16].hex(' ')}" for offset in range(0, len(part), 16)
    )
    return Preview(len(data), len(part), None, "\n".join(lines))


def _text(head: bytes, *, whole: bool) -> str | None:
    try:
        return head.decode()
    except UnicodeDecodeError as exc:
        # a cut may split the last character: keep what comes before it
        if not whole and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return head[: exc.start].decode()
        return None
