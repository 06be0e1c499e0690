"""Shared output helpers for the CLI.

Human-readable output goes through `say` (one line) and `print_table`: every
piece of data is passed through `safe_text` (no control character, escape
sequence or bidi override reaches the terminal) and printed as a rich `Text`,
so rich markup (`[red]`) or emoji codes (`:smile:`) in data stay literal.
Without a terminal, tables are tab-separated lines with a header line and
full values: nothing is cut or wrapped to fit a width.

`--json` output goes through `print_json_line`: exact data, every datetime in
UTC ending in `Z`, dates as `YYYY-MM-DD`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tlsrpt.cli.terminal import json_escape_invisible, safe_text
from tlsrpt.export import json_bytes as _plain_json_bytes

__all__ = [
    "Column",
    "SafeLogFormatter",
    "UsageError",
    "console",
    "err_console",
    "json_bytes",
    "print_json_line",
    "print_table",
    "safe_line",
    "safe_text",
    "say",
]

console = Console(highlight=False, soft_wrap=True, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

# A piece of a line: plain text, or (text, rich style).
Part = str | tuple[str, str]
Cell = str | int | None


class UsageError(Exception):
    """Bad arguments or environment: exit status 2."""


def safe_line(*parts: Part, style: str = "") -> Text:
    """One line of output from `parts`, each made terminal-safe. A part may
    not hold a line break of its own: one would be shown as `\\x0a`."""
    line = Text(style=style)
    for part in parts:
        if isinstance(part, tuple):
            line.append(safe_text(part[0]), style=part[1])
        else:
            line.append(safe_text(part))
    return line


def say(*parts: Part, style: str = "", err: bool = False) -> None:
    """Print one terminal-safe line (see `safe_line`) on stdout or stderr."""
    (err_console if err else console).print(safe_line(*parts, style=style))


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool = False  # right-aligned; integers get thousands separators


def _cell(value: Cell, grouped: bool) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if grouped else str(value)
    return safe_text(value)


def print_table(
    columns: Sequence[Column], rows: Iterable[Sequence[Cell]], *, title: str | None = None
) -> None:
    """A table: boxed and folded to the width on a terminal; otherwise a
    header line and one tab-separated line per row with every value whole
    (`safe_text` shows a tab or newline inside a value as `\\x09`/`\\x0a`,
    so fields never split). Missing values print as `-`."""
    if not console.is_terminal:
        out = sys.stdout
        out.write("\t".join(c.name for c in columns) + "\n")
        for row in rows:
            out.write("\t".join(_cell(v, grouped=False) for v in row) + "\n")
        out.flush()
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(
            column.name, justify="right" if column.numeric else "left", overflow="fold"
        )
    for row in rows:
        table.add_row(*(Text(_cell(v, grouped=True)) for v in row))
    console.print(table)


def json_bytes(obj: Any) -> bytes:
    """`obj` as JSON (`tlsrpt.export.json_bytes`: datetimes as UTC with `Z`,
    dates `YYYY-MM-DD`, integers of any size, anything else as its `str`);
    invisible and control characters as `\\uXXXX` escapes
    (`json_escape_invisible`)."""
    data = _plain_json_bytes(obj)
    if data.isascii() and b"\x7f" not in data:
        return data
    return json_escape_invisible(data.decode()).encode()


def print_json_line(obj: Any) -> None:
    """One JSON object per line on stdout (JSON Lines)."""
    sys.stdout.buffer.write(json_bytes(obj) + b"\n")
    sys.stdout.flush()


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SafeLogFormatter(logging.Formatter):
    """Text log lines for a terminal or a journal: a message may carry text
    from anonymous senders (report ids, reasons, DNS data), so every control
    or bidirectional character in it is shown escaped (`safe_text`). A
    traceback keeps its own line breaks."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return safe_text(super().formatMessage(record))
