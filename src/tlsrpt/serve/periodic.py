"""A job `tlsrpt serve` runs on a schedule of its own, in a thread of its
own: at start, then every `interval`, until `stop()`. A failure (the
database went away) is logged, and the job runs again at the next
interval; the server keeps serving."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable


class Periodic:
    def __init__(
        self, name: str, job: Callable[[], object], interval: dt.timedelta, log: logging.Logger
    ) -> None:
        self.name, self.job, self.interval, self.log = name, job, interval, log
        self.runs = 0  # jobs finished without an error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tlsrpt-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.job()
            except Exception as exc:
                self.log.error("%s failed: %s: %s", self.name, type(exc).__name__, exc)
                self.log.debug("%s failed", self.name, exc_info=True)
            else:
                self.runs += 1
            self._stop.wait(self.interval.total_seconds())

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the run in progress; True once stopped."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()
