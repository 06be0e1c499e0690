"""Alembic migrations, run programmatically on start or by `tlsrpt db upgrade`.

The migration environment ships inside the package
(`tlsrpt/store/migrations`), so an installed wheel migrates its database
without any alembic.ini.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from tlsrpt.store.engine import Store
from tlsrpt.store.url import StoreError, StoreMissing

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _check_known(revision: str | None) -> None:
    known = {script.revision for script in _scripts().walk_revisions()}
    if revision is not None and revision not in known:
        raise StoreError(
            f"the database schema is at revision {revision}, unknown to this version of "
            "tlsrpt (written by a newer one?)"
        )


def upgrade(store: Store, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to `revision` under the write lock, so concurrent starts are
    safe. Returns (revision before, revision after)."""
    with store.write() as conn:
        before = current_revision(conn)
        _check_known(before)
        command.upgrade(_config(conn), revision)
        return before, current_revision(conn)


def ensure_current(store: Store) -> None:
    """Upgrade to head unless already there (a cheap read when it is)."""
    with store.read() as conn:
        current = current_revision(conn)
    if current == head_revision():
        return
    _check_known(current)
    upgrade(store)


def require_current(store: Store) -> None:
    """For readers that must not change the database: refuse a database
    without the tlsrpt schema (a new file, an empty PostgreSQL schema) or
    with another revision, saying what to run."""
    with store.read() as conn:
        current = current_revision(conn)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise StoreMissing(
            f"database {store.display_url} holds no tlsrpt data (no tlsrpt schema): "
            "`tlsrpt import` or `tlsrpt db upgrade` creates it"
        )
    _check_known(current)
    raise StoreError(
        f"database {store.display_url} has schema revision {current}, this version of "
        f"tlsrpt reads {head}: run `tlsrpt db upgrade` first"
    )
