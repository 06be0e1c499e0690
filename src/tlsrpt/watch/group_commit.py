"""Group commit for the watcher: the checks that complete while one
transaction is being written are stored together in the next one.

One commit per check made the database the watcher's bottleneck: on SQLite
every commit waits for the disk and holds the one write lock that report
ingestion needs too, so a cycle over many domains spent most of its time
queued for that lock (measured by benchmarks/watch.py). Each write still
runs whole inside one transaction (a check, its alerts and their outbox
rows are committed together or not at all); only several of them share it.

On SQLite the event loop also waits while a transaction holds the write
lock (`holding_loop`): in the watcher's process the loop (TLS handshakes,
parsing, evaluation) competes for the GIL with the thread writing, which
gives the GIL up at every statement and waits for it again each time, so
the lock was held far longer than the writing took: a `tlsrpt watch
--once` over 600 domains of benchmarks/benchlab.py's lab held it 27 s of
its 34 s, 18.5 s with the loop waiting (9.6 s once the statements of a
check were built once, see `tlsrpt.store.watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
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
# The longest the event loop waits for a transaction holding the write lock:
# past it, the loop goes on (a transaction that slow is waiting for the disk).
HOLD_LIMIT_S = 2.0

Transaction = Callable[[], contextlib.AbstractContextManager[Connection]]


@contextlib.contextmanager
def holding_loop(
    transaction: Transaction, loop: asyncio.AbstractEventLoop | None
) -> Iterator[Connection]:
    """`transaction()`, entered in a worker thread; once it is begun (on
    SQLite: the write lock taken, which may wait for other writers while
    the loop goes on), `loop` waits until it is committed or rolled back,
    at most HOLD_LIMIT_S, so that the thread holding the lock has the
    process's CPU to itself. The thread never waits for the loop (the loop
    stops at its next callback), so they cannot deadlock. `loop` None:
    just `transaction()`."""
    done = threading.Event()
    try:
        with transaction() as conn:
            if loop is not None:
                loop.call_soon_threadsafe(done.wait, HOLD_LIMIT_S)
            yield conn
    finally:
        done.set()


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
        transaction: Transaction,
        limit: int = GROUP_LIMIT,
        linger: float = 0.0,
        hold_loop: bool = False,
    ) -> None:
        self._transaction = transaction
        self._limit = max(1, limit)
        self._linger = linger
        self._hold_loop = hold_loop  # the loop waits while a transaction is begun
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
                loop = asyncio.get_running_loop() if self._hold_loop else None
                writes = [write for write, _ in batch]
                results = await asyncio.to_thread(self._write, writes, loop)
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

    def _write(self, writes: list[Write], loop: asyncio.AbstractEventLoop | None) -> list[Any]:
        """The results of `writes`, or the exception of each that failed."""
        try:
            with holding_loop(self._transaction, loop) as conn:
                return [write(conn) for write in writes]
        except Exception as exc:
            if len(writes) == 1:
                return [exc]
        return [self._write([write], loop)[0] for write in writes]

    async def aclose(self) -> None:
        """Wait for the writes in progress (after a cancellation too)."""
        if self._writing is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writing
