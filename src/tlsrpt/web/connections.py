"""HTTP connection limits of `tlsrpt serve`: uvicorn's h11 protocol with a
header timeout, a body deadline and a bound on open connections.

uvicorn closes a keep-alive connection that stays idle between requests
(`timeout_keep_alive`), but never one that sends its request headers
slowly, or nothing at all after connecting; and its `limit_concurrency`
answers 503 only once a request's headers have arrived, so connections
that send nothing are never refused, and every one holds a file
descriptor. Once the process runs out of descriptors, it cannot accept
anyone, `/healthz` and report senders included. This protocol adds:

- a header timeout: a connection whose request headers are not complete
  within `header_timeout_s` of its opening, or of the end of the previous
  response on the connection, is closed;
- a body deadline: a request whose body is not complete within
  `body_timeout_s` (plus a grace, so the report receiver answers its own
  408 first) of its headers is closed, on every path;
- a bound on open connections, `max_connections`: a new connection beyond
  it makes room by closing the connection idle longest (no request in
  progress: a fresh or keep-alive connection waiting for headers); when
  none is idle, the new one is answered 503 and closed at once, never
  queued. A new client (a health check, a report sender) thus always gets
  in while the others only hold connections open;
- `max_connections_for_descriptors`: the bound lowered to what the
  process's descriptor limit leaves, after raising the soft limit towards
  the hard one.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("tlsrpt.connections")

# Descriptors kept for everything but HTTP connections: the database (3
# per SQLite connection: file, WAL, shared memory; up to 15 pooled), the
# ingest process's pipe, the SMTP and IMAP receivers, logs, the loop.
RESERVED_DESCRIPTORS = 128
BODY_GRACE_S = 2.0  # the receiver answers 408 at body_timeout_s; this closes after
LOG_EVERY_S = 60.0

_REFUSAL_BODY = (
    b'{"type":"about:blank","title":"Service Unavailable","status":503,'
    b'"detail":"the server has as many connections open as it may; retry later"}'
)
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/problem+json\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY
)


class ConnectionGuard:
    """The connections of one server (one event loop): how many are open,
    which are idle (waiting for request headers), oldest first."""

    def __init__(
        self, max_connections: int, header_timeout_s: float, body_timeout_s: float
    ) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.body_deadline_s = body_timeout_s + BODY_GRACE_S
        self._open: set[GuardedH11Protocol] = set()
        self._idle: dict[GuardedH11Protocol, None] = {}  # insertion order: idle since
        self.counts = {"refused": 0, "evicted": 0, "header-timeout": 0, "body-timeout": 0}
        self._logged = {**self.counts}
        self._log_at = 0.0

    @property
    def open(self) -> int:
        return len(self._open)

    def admit(self, conn: GuardedH11Protocol) -> bool:
        """Room for `conn`, made by closing the connection idle longest if
        needed; False when every open connection has a request in progress."""
        if len(self._open) >= self.max_connections:
            victim = next(iter(self._idle), None)
            if victim is None:
                self.note("refused")
                return False
            self.release(victim)
            victim.close_idle()
            self.note("evicted")
        self._open.add(conn)
        return True

    def idle(self, conn: GuardedH11Protocol) -> None:
        self._idle.pop(conn, None)
        self._idle[conn] = None

    def busy(self, conn: GuardedH11Protocol) -> None:
        self._idle.pop(conn, None)

    def release(self, conn: GuardedH11Protocol) -> None:
        self._open.discard(conn)
        self._idle.pop(conn, None)

    def note(self, event: str) -> None:
        """Count a connection closed or refused; a summary is logged at
        most once a minute (a flood of connections is not a flood of logs)."""
        self.counts[event] += 1
        now = asyncio.get_running_loop().time()
        if now - self._log_at < LOG_EVERY_S:
            return
        self._log_at = now
        news = {k: v - self._logged[k] for k, v in self.counts.items() if v > self._logged[k]}
        self._logged = {**self.counts}
        log.warning(
            "connections closed or refused since the last note: %s (open %d, max_connections %d)",
            ", ".join(f"{v} {k}" for k, v in news.items()),
            len(self._open),
            self.max_connections,
        )


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol under a `ConnectionGuard` (see the module
    docstring); `protocol_class` binds it to one guard."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._admitted = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            transport.write(REFUSAL)
            transport.close()
            return
        self._admitted = True
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.guard.release(self)
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if not self._admitted or self.transport.is_closing():
            return
        if self.cycle is not cycle:  # a request's headers are complete
            self.guard.busy(self)
            self._cancel_timer()
        if self.cycle is None or self.cycle.response_complete:
            return  # idle: the header timer runs
        if self.conn.their_state is h11.SEND_BODY:
            if self._timer is None:
                self._timer = self.loop.call_later(
                    self.guard.body_deadline_s, self._timed_out, "body-timeout"
                )
        else:  # the body is complete
            self._cancel_timer()

    def on_response_complete(self) -> None:
        if self._admitted and not self.transport.is_closing():
            self._await_headers()  # before a pipelined request is taken up
        super().on_response_complete()

    def close_idle(self) -> None:
        """Closed to make room for a new connection."""
        self._cancel_timer()
        self.transport.close()

    def _await_headers(self) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(
            self.guard.header_timeout_s, self._timed_out, "header-timeout"
        )
        self.guard.idle(self)

    def _timed_out(self, event: str) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.guard.note(event)
            self.guard.release(self)
            self.transport.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def protocol_class(guard: ConnectionGuard) -> type[GuardedH11Protocol]:
    """The protocol class to give uvicorn (`uvicorn.Config(http=...)`)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": guard})


def max_connections_for_descriptors(wanted: int) -> int:
    """`wanted`, or fewer if the descriptor limit (RLIMIT_NOFILE) cannot
    hold that many connections plus RESERVED_DESCRIPTORS: the soft limit
    is raised towards the hard one first, as far as needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + RESERVED_DESCRIPTORS
    infinite = resource.RLIM_INFINITY
    if soft != infinite and soft < need:
        target = need if hard == infinite else min(need, hard)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
    if soft == infinite or soft >= need:
        return wanted
    available = soft - RESERVED_DESCRIPTORS if soft > 2 * RESERVED_DESCRIPTORS else soft // 2
    return max(1, available)
