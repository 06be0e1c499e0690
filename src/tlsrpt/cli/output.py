"""Shared terminal output helpers for the CLI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageError(Exception):
    """Bad arguments or environment: exit status 2."""


def print_json_line(obj: Any) -> None:
    """One JSON object per line on stdout (JSON Lines)."""
    sys.stdout.buffer.write(orjson.dumps(obj, default=str) + b"\n")
    sys.stdout.flush()


def read_text_argument(value: str) -> str:
    """`TEXT` or `@FILE` (and `@-` for stdin), as the lint command takes them."""
    if not value.startswith("@"):
        return value
    target = value[1:]
    if target == "-":
        return sys.stdin.read()
    try:
        return Path(target).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror}") from exc
