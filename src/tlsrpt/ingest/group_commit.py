"""Group commit for asynchronous receivers.

Inputs that arrive while a transaction is being written are committed
together in the next one (`pipeline.ingest_batch`, run in a child process:
`tlsrpt.ingest.child`), so under load one commit serves many requests, and
an idle server adds no delay at all: a lone input is written at once. Each
caller gets its own result only after the transaction holding its input has
committed, so the receivers' "2xx only after commit" guarantee is unchanged
(see `tlsrpt.ingest.pipeline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tlsrpt.ingest.child import IN_FLIGHT, IngestChild
from tlsrpt.ingest.model import IngestResult, RawInput
from tlsrpt.store.engine import Store
from tlsrpt.store.url import StoreError

_Waiting = tuple[RawInput, "asyncio.Future[IngestResult]"]
log = logging.getLogger(__name__)


class GroupCommitter:
    """`await submit(raw)` from any task of one event loop."""

    def __init__(
        self, store: Store, max_batch: int = 64, max_batch_bytes: int = 16 * 1024 * 1024
    ) -> None:
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes  # the batch is copied to the child
        self._child = IngestChild(store)
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._commits: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the child process now rather than at the first input (if
        it cannot start, the first input tries again and fails alone)."""
        try:
            await self._child.start()
        except StoreError as exc:
            log.warning("%s; the first input starts it again", exc)

    async def submit(self, raw: RawInput) -> IngestResult:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="group-commit")
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((raw, future))  # unbounded: never waits
        return await future

    async def _run(self) -> None:
        slots = asyncio.Semaphore(IN_FLIGHT)
        carried: _Waiting | None = None  # did not fit in the batch before
        while True:
            first = carried or await self._queue.get()
            carried = None
            await slots.acquire()  # what arrives meanwhile joins this batch
            batch = [first]
            size = len(first[0].data)
            while len(batch) < self.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                size += len(item[0].data)
                if size > self.max_batch_bytes:
                    carried = item
                    break
                batch.append(item)
            task = asyncio.create_task(self._commit(batch, slots))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)

    async def _commit(self, batch: list[_Waiting], slots: asyncio.Semaphore) -> None:
        try:
            results = await self._child.ingest_batch([raw for raw, _ in batch])
        except Exception as exc:  # the database itself failed: every caller hears it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            slots.release()
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        """Stop taking batches, let those sent finish, stop the child.
        Callers still waiting have been answered (the server stops taking
        requests and lets them finish first)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._commits:
            await asyncio.wait(list(self._commits))
        await self._child.close()
