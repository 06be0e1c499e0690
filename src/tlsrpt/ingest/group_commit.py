"""Group commit for asynchronous receivers.

Inputs that arrive while a transaction is being written are committed
together in the next one (`pipeline.ingest_batch`), so under load one commit serves
many requests, and an idle server adds no delay at all: a lone input is
written at once. Each caller gets its own result only after the transaction
holding its input has committed, so the receivers' "2xx only after commit"
guarantee is unchanged (see `tlsrpt.ingest.pipeline`).
"""

from __future__ import annotations

import asyncio
import contextlib

from tlsrpt.ingest.model import IngestResult, RawInput
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.store.engine import Store

_Waiting = tuple[RawInput, "asyncio.Future[IngestResult]"]


class GroupCommitter:
    """`await submit(raw)` from any task of one event loop."""

    def __init__(self, store: Store, max_batch: int = 64) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, raw: RawInput) -> IngestResult:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="group-commit")
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((raw, future))  # unbounded: never waits
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await asyncio.to_thread(
                    ingest_batch, self.store, [raw for raw, _ in batch]
                )
            except Exception as exc:  # the database itself failed: every caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Stop the worker; callers still waiting have been answered (the
        server stops taking requests and lets them finish first)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
