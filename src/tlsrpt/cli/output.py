"""Shared terminal output helpers for the CLI."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

from tlsrpt.export import json_bytes

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageError(Exception):
    """Bad arguments or environment: exit status 2."""


def print_json_line(obj: Any) -> None:
    """One JSON object per line on stdout (JSON Lines)."""
    sys.stdout.buffer.write(json_bytes(obj) + b"\n")
    sys.stdout.flush()
