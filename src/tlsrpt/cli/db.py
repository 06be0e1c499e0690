"""`tlsrpt db upgrade [--db URL] [--json]`, and the `--db` option every
storing command shares."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tlsrpt.cli.output import UsageError, print_json_line, say
from tlsrpt.store.location import ENV_VAR, default_database_path

if TYPE_CHECKING:
    from tlsrpt.store.engine import Store

# Storage modules (SQLAlchemy, Alembic) are imported when a command runs, so
# that `tlsrpt --help` and the other commands start fast.


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help=(
            f"database: sqlite:///PATH or postgresql://USER@HOST/DB (default: ${ENV_VAR}, "
            f"else {default_database_path()})"
        ),
    )


@contextlib.contextmanager
def opened_store(
    args: argparse.Namespace, *, migrate: bool = True, read_only: bool = False
) -> Iterator[Store]:
    """The database of `--db`, migrated to the current schema. Database
    trouble is an environment error (exit 2), with the reason. Commands that
    only show data pass `read_only`: they never create or migrate a
    database, and one that does not exist (or has no tlsrpt schema) is an
    error naming what to run."""
    import sqlalchemy as sa

    from tlsrpt.store.engine import db_reason, open_store
    from tlsrpt.store.url import StoreError

    try:
        store = open_store(args.db, migrate=migrate, read_only=read_only)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    try:
        yield store
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    except sa.exc.DBAPIError as exc:
        raise UsageError(f"database {store.display_url}: {db_reason(exc)}") from exc
    finally:
        store.close()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="database maintenance", description="Database maintenance.")
    verbs = p.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    up = verbs.add_parser(
        "upgrade",
        help="create or migrate the database schema to this version of tlsrpt",
        description="Create the database or migrate its schema (every command also does this).",
    )
    add_db_argument(up)
    up.add_argument("--json", action="store_true", help="print the result as JSON")
    up.set_defaults(func=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    from tlsrpt.store.migrate import upgrade
    from tlsrpt.store.url import StoreError

    with opened_store(args, migrate=False) as store:
        try:
            before, after = upgrade(store)
        except StoreError as exc:
            raise UsageError(str(exc)) from exc
        if args.json:
            print_json_line({"database": store.display_url, "from": before, "to": after})
        elif before == after:
            say(f"{store.display_url}: schema already at revision {after}")
        else:
            say(f"{store.display_url}: schema {before or 'empty'} -> {after}")
    return 0
