"""Shared by the account commands (`tlsrpt user|token|domain`): run an
account operation in one write transaction, its refusals as usage errors."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
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
