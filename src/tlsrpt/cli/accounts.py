"""Shared by the account commands (`tlsrpt user|token|domain`): run an
account operation in one write transaction, its refusals as usage errors;
the `--json` option and how times are shown."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from tlsrpt.cli.db import opened_store
from tlsrpt.cli.output import UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@contextlib.contextmanager
def account_transaction(args: argparse.Namespace) -> Iterator[Connection]:
    from tlsrpt.store.users import AccountError

    with opened_store(args) as store:
        try:
            with store.write() as conn:
                yield conn
        except AccountError as exc:
            raise UsageError(str(exc)) from exc


def add_json_argument(parser: argparse.ArgumentParser, shape: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {shape}")


def when(moment: datetime | None) -> str:
    """A stored (naive UTC) time for people; '-' for none."""
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "-"
