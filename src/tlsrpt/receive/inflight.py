"""Request bodies held in memory, bounded across all requests of a server.

A request reserves the bytes of its body before it buffers them: all at
once when it declares a Content-Length, chunk by chunk otherwise. What
would pass the limit is refused (the receiver answers 503 with
Retry-After), so however many senders post at once, the bodies held never
exceed `limit`. The reservation is released when the request is answered:
until then its body is held (by the receiver, then the ingest batch).

Used from one event loop only: no lock.
"""

from __future__ import annotations

from types import TracebackType


class InflightBytes:
    """The shared budget: `limit` bytes of bodies held at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def holding(self) -> Holding:
        """One request's share, released when its `with` block ends."""
        return Holding(self)


class Holding:
    """The bytes one request has reserved."""

    def __init__(self, pool: InflightBytes) -> None:
        self.pool = pool
        self.bytes = 0

    def reserve_up_to(self, total: int) -> bool:
        """Grow this request's reservation to `total` bytes; False, and
        nothing reserved, when the pool cannot hold that."""
        more = total - self.bytes
        if more <= 0:
            return True
        if self.pool.held + more > self.pool.limit:
            return False
        self.pool.held += more
        self.bytes = total
        return True

    def release(self) -> None:
        self.pool.held -= self.bytes
        self.bytes = 0

    def __enter__(self) -> Holding:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.release()
