"""Every domain an admin sees (registered, or with reports), kept per
process: each list request needs all of them (to count, sort and page),
and reading 10,000 names costs 25-35 ms, more than the rest of a page.

The list is read again when its stamp changes: the number of reported
domains (`reported_domains` only ever grows: a report's domain stays
after retention), and the number and the newest registration time of the
registered ones (registering adds a row with the time of that moment;
removing lowers the count; a removal and a registration between two
requests raise the newest time). Other users' lists are small and read
each time (`visible_domains`).
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.accounts import domains
from tlsrpt.store.schema import reported_domains
from tlsrpt.store.users import User, visible_domains

Stamp = tuple[object, ...]


def names_stamp(conn: Connection) -> Stamp:
    """What changes whenever the admins' list of names does (see above)."""
    count = sa.select(sa.func.count()).select_from
    query = sa.select(
        count(reported_domains).scalar_subquery(),
        count(domains).scalar_subquery(),
        sa.select(sa.func.max(domains.c.created_at)).scalar_subquery(),
    )
    return tuple(conn.execute(query).one())


class VisibleNames:
    """`visible_domains`, with the admins' list kept while its stamp holds.
    The list returned is shared: callers must not change it. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[Stamp, list[str]] | None = None

    def __call__(self, conn: Connection, user: User) -> list[str]:
        if not user.is_admin:
            return visible_domains(conn, user)
        stamp = names_stamp(conn)
        with self._lock:
            kept = self._kept
        if kept is not None and kept[0] == stamp:
            return kept[1]
        names = visible_domains(conn, user)
        with self._lock:
            self._kept = (stamp, names)
        return names
