"""What the IMAP poller keeps in the store: the last UID read per mailbox
(under the folder's UIDVALIDITY, RFC 9051 §2.3.1.1), and on PostgreSQL the
session-level advisory lock that lets one instance poll a mailbox at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.engine import Store
from tlsrpt.store.schema import imap_watermarks


class Watermark(NamedTuple):
    uidvalidity: int
    last_uid: int


def watermark(conn: Connection, mailbox: str) -> Watermark | None:
    w = imap_watermarks
    row = conn.execute(
        sa.select(w.c.uidvalidity, w.c.last_uid).where(w.c.mailbox == mailbox)
    ).first()
    return None if row is None else Watermark(int(row.uidvalidity), int(row.last_uid))


def set_watermark(conn: Connection, mailbox: str, mark: Watermark, now: datetime) -> None:
    values = {"uidvalidity": mark.uidvalidity, "last_uid": mark.last_uid, "updated_at": now}
    key = imap_watermarks.c.mailbox == mailbox
    if conn.execute(sa.update(imap_watermarks).where(key).values(values)).rowcount == 0:
        conn.execute(sa.insert(imap_watermarks).values(mailbox=mailbox, **values))


@contextmanager
def advisory_lock(store: Store, key: int) -> Iterator[Connection | None]:
    """PostgreSQL: try a session-level advisory lock on a connection of its
    own, held as long as the block runs; yields that connection, or None
    when another session holds the lock."""
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
        try:
            yield conn if held else None
        finally:
            if held:
                # If the connection is gone, the lock went with it.
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))


def ping(conn: Connection) -> None:
    """Raise if the connection died."""
    conn.execute(sa.text("SELECT 1"))
