"""Shared terminal output helpers for the CLI."""

from __future__ import annotations

import sys
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
