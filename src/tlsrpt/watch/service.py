"""The watcher inside `tlsrpt serve`: its own event loop in a thread of its
own, started and stopped with the server, so checks never hold up the
loop that answers HTTP requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from tlsrpt.watch.watcher import Watcher

log = logging.getLogger("tlsrpt.watch")


class WatcherThread:
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tlsrpt-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # logged; the server keeps serving
            log.error("the watcher stopped: %s: %s", type(exc).__name__, exc)
            log.debug("the watcher stopped", exc_info=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self.watcher.run_forever(self._stop)

    def stop(self, timeout: float | None = None) -> bool:
        """Let checks in progress finish and be stored; True once stopped."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        return not self._thread.is_alive()
