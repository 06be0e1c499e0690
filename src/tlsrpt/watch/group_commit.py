"""Group commit for the watcher: the checks that complete while one
transaction is being written are stored together in the next one.

One commit per check made the database the watcher's bottleneck: on SQLite
every commit waits for the disk and holds the one write lock that report
ingestion needs too, so a cycle over many domains spent most of its time
queued for that lock (measured by benchmarks/watch.py). Each write still
runs whole inside one transaction (a check, its alerts and their outbox
rows are committed together or not at all); only several of them share it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

T = TypeVar("T")
Write = Callable[[Connection], Any]

# At most this many checks in one transaction: a long transaction would keep
# other writers (report ingestion on SQLite) waiting for as long.
GROUP_LIMIT = 50
# A write waits this long for others to share its transaction: checks that
# take seconds are stored a moment later, and report ingestion on SQLite
# meets the watcher's write lock a few times a second, not at every check
# (SQLite's busy handler sleeps up to 100 ms whenever it meets it).
GROUP_LINGER_S = 0.25


class GroupWriter:
    """`await writer.submit(write)` runs `write(conn)` in a worker thread,
    in a transaction shared with the other writes submitted meanwhile (and
    within `linger` seconds after it, up to `limit` writes), and
    returns its result (or raises its exception) once that is committed.

    When a shared transaction fails, each of its writes is run again in a
    transaction of its own, so that one bad write does not take the others
    with it."""

    def __init__(
        self,
        transaction: Callable[[], contextlib.AbstractContextManager[Connection]],
        limit: int = GROUP_LIMIT,
        linger: float = 0.0,
    ) -> None:
        self._transaction = transaction
        self._limit = max(1, limit)
        self._linger = linger
        self._pending: list[tuple[Write, asyncio.Future[Any]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def submit(self, write: Callable[[Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            if self._linger and len(self._pending) < self._limit:
                await asyncio.sleep(self._linger)
            # not those whose submitter was cancelled (a watcher stopping at once)
            batch = [(w, f) for w, f in self._pending[: self._limit] if not f.done()]
            del self._pending[: self._limit]
            if not batch:
                continue
            try:
                results = await asyncio.to_thread(self._write, [write for write, _ in batch])
            except BaseException:  # cancelled: the writes' fate is unknown
                for _, future in batch:
                    future.cancel()
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its submitter was cancelled meanwhile
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _write(self, writes: list[Write]) -> list[Any]:
        """The results of `writes`, or the exception of each that failed."""
        try:
            with self._transaction() as conn:
                return [write(conn) for write in writes]
        except Exception as exc:
            if len(writes) == 1:
                return [exc]
        return [self._write([write])[0] for write in writes]

    async def aclose(self) -> None:
        """Wait for the writes in progress (after a cancellation too)."""
        if self._writing is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writing
