"""The ingest pipeline in a child process, driven from an event loop.

`tlsrpt serve` answers HTTP on one event loop. Parsing and writing reports
in a thread of the same process made both take turns on one GIL, and each
turn cost both: the ingest thread's CPU per report more than doubled beside
the busy loop, and the process never used more than one core. The child
has a GIL of its own: batches go down a pipe, committed results come back,
so "2xx only after commit" holds as before. No thread is involved on the
loop's side: the pipe is watched by the loop itself.

The child writes the batches it receives one after another (writers are
serialized per database anyway); callers may send up to `IN_FLIGHT` ahead,
so that it starts the next one the moment it commits one.

If the child dies, every batch in flight fails with `StoreError` (the
receiver answers 503 and the sender retries; a retry of a batch that did
commit is then a duplicate, never a second count) and the next batch starts
a new child. Database errors come back as `StoreError` too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

import sqlalchemy as sa

from tlsrpt.ingest.model import IngestResult, RawInput
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.store.engine import Store, db_reason
from tlsrpt.store.url import StoreError

IN_FLIGHT = 2
# Sent from the loop itself while the batches not yet answered stay within
# this (far below a socket buffer: the send cannot block).
INLINE_SEND_BYTES = 64 * 1024
STOP_TIMEOUT_S = 60.0  # batches already sent are written before the child exits
START_TIMEOUT_S = 60.0  # for the child's imports

_Reply = tuple[str, Any]  # ("ok", [IngestResult]) or ("error", reason)


def _serve(conn: Connection, url: str) -> None:
    """The child: ingest every batch received until told to stop."""
    # Its lifetime is the parent's business (a terminal's Ctrl-C reaches
    # the whole process group): stop only when the pipe says so or closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    store = Store(url)  # the parent has brought the schema up to date
    try:
        conn.send(("ready", None))  # its imports are done
        while True:
            try:
                batch = conn.recv()
            except EOFError:
                return
            if batch is None:
                return
            reply: _Reply
            try:
                reply = ("ok", ingest_batch(store, batch))
            except StoreError as exc:
                reply = ("error", str(exc))
            except sa.exc.DBAPIError as exc:
                reply = ("error", f"database {store.display_url}: {db_reason(exc)}")
            except Exception as exc:  # a bug: this batch fails, the child lives on
                reply = ("error", f"ingest failed: {type(exc).__name__}: {exc}")
            try:
                conn.send(reply)
            except OSError:  # the parent is gone; what was written is committed
                return
    finally:
        store.close()


def _ready(conn: Connection) -> bool:
    """Whether the child said it is ready within `START_TIMEOUT_S`."""
    try:
        return conn.poll(START_TIMEOUT_S) and conn.recv() == ("ready", None)
    except (EOFError, OSError):  # it died
        return False


class IngestChild:
    """`ingest_batch` on one database in a child process, for one event loop."""

    def __init__(self, store: Store) -> None:
        self.url = store.url.render_as_string(hide_password=False)
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        # batches sent and not answered yet, with their sizes, in sending order
        self._waiting: collections.deque[tuple[asyncio.Future[list[IngestResult]], int]] = (
            collections.deque()
        )
        self._unanswered_bytes = 0
        self._reaper: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._sending = asyncio.Lock()

    async def ingest_batch(self, inputs: Sequence[RawInput]) -> list[IngestResult]:
        """Results of one batch once committed; raises StoreError."""
        # Pickled first: an input that cannot be sent fails here, alone.
        message = ForkingPickler.dumps(list(inputs))
        future: asyncio.Future[list[IngestResult]] = asyncio.get_running_loop().create_future()
        async with self._sending:  # one message at a time; replies come in this order
            if self._conn is None:
                await self.start()
            conn = self._conn
            assert conn is not None
            size = len(message)
            self._waiting.append((future, size))  # from here on, losing the child fails it
            self._unanswered_bytes += size
            try:
                if self._unanswered_bytes > INLINE_SEND_BYTES:
                    # The child reads a batch only once done with the one
                    # before: a send that may fill the socket's buffer waits
                    # in a thread, never on the loop.
                    await asyncio.to_thread(conn.send_bytes, message)
                else:
                    conn.send_bytes(message)
            except OSError as exc:
                if self._conn is conn:  # else the loss was noticed already
                    await self._lost(f"the ingest process is gone: {exc}")
        # Sent: the pickled copy of the batch's bodies is not kept while the
        # child works on it (the receivers hold the one copy they answer for).
        del message
        return await future

    async def start(self) -> None:
        """Start the child (done on demand too); its imports take a moment."""
        async with self._starting:
            if self._conn is not None:
                return
            context = multiprocessing.get_context("spawn")  # never fork a threaded process
            parent, child = context.Pipe()
            process = context.Process(
                target=_serve, args=(child, self.url), name="tlsrpt-ingest", daemon=True
            )
            await asyncio.to_thread(process.start)
            child.close()
            # Its imports take a second of CPU: waited for here, they do not
            # compete with the first requests after a restart (a page view,
            # a lone report), nor hold up the first batch's reply.
            if not await asyncio.to_thread(_ready, parent):
                parent.close()
                process.kill()
                await asyncio.to_thread(process.join)
                raise StoreError("the ingest process did not start")
            self._process, self._conn = process, parent
            asyncio.get_running_loop().add_reader(parent.fileno(), self._readable)
            # uvloop makes a watched descriptor non-blocking; multiprocessing's
            # Connection needs it blocking (a send or a reply may come in parts).
            os.set_blocking(parent.fileno(), True)

    def _readable(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError) as exc:
            loop = asyncio.get_running_loop()
            loop.remove_reader(conn.fileno())
            reason = f"the ingest process stopped: {exc or type(exc).__name__}"
            self._reaper = loop.create_task(self._lost(reason))
            return
        future, size = self._waiting.popleft()
        self._unanswered_bytes -= size
        if future.done():
            return
        if kind == "ok":
            future.set_result(payload)
        else:
            future.set_exception(StoreError(payload))

    async def _lost(self, reason: str) -> None:
        """The child died: fail what it held, clean up; the next batch
        starts a new one."""
        waiting, self._waiting = self._waiting, collections.deque()
        self._unanswered_bytes = 0
        for future, _ in waiting:
            if not future.done():
                future.set_exception(StoreError(reason))
        await self._stop(kill=True)

    async def close(self) -> None:
        """Let the child finish what it was sent, then stop it."""
        pending = [future for future, _ in self._waiting if not future.done()]
        if pending:
            await asyncio.wait(pending, timeout=STOP_TIMEOUT_S)
        await self._stop(kill=False)

    async def _stop(self, *, kill: bool) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            asyncio.get_running_loop().remove_reader(conn.fileno())
            if not kill:
                with contextlib.suppress(OSError):
                    conn.send(None)
        if process is not None:
            if kill:
                process.kill()
            await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join)
        if conn is not None:
            conn.close()
