"""Per-client rate limits (token buckets) as ASGI middleware.

The report receiver must stay open to anyone (RFC 8460 §5.4: senders do not
authenticate), so it is limited by client address instead; so is the
dashboard login (password guessing). A refused request gets 429 with
Retry-After and a problem-details body. The client address is what the
server sees (uvicorn applies X-Forwarded-For only from trusted proxies),
an IPv6 client counted by its /64 (`client_key`).

On PostgreSQL a named rule's buckets are rows of the database
(tlsrpt.store.rate_limits), so that all instances serving one database
count a client once (each instance may hold a lease of 1 % of the burst
unspent); should the database not answer, the process's own buckets
stand in. On SQLite (one host, one process) they are the
process's own.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from tlsrpt.asgi import client_key, problem
from tlsrpt.store import rate_limits
from tlsrpt.store.engine import Store
from tlsrpt.store.url import StoreError

log = logging.getLogger("tlsrpt.web")

# Beyond this many tracked clients, full buckets (idle clients) are dropped.
MAX_TRACKED = 10_000
# How often (seconds) a process removes the refilled buckets of a rule from
# the database, and logs that the database could not be used.
SHARED_CHORE_S = 60.0


class TokenBuckets:
    """`burst` requests at once per key, refilled at `rate` per second.
    With a `name` (at most 32 characters), shared through a PostgreSQL
    database (`take_shared`)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "",
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a rate above 0 and a burst of at least 1")
        self.rate, self.burst, self.clock, self.name = rate, burst, clock, name
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._pruned_at = self._failed_at = -math.inf
        # tokens taken from the database and not yet spent, per key; a
        # lease of 1 % of the burst keeps the limit exact to that much per
        # instance and a burst of one client to one statement per lease
        self.lease = max(1, burst // 100)
        self._leased: dict[str, int] = {}
        self._refused_until: dict[str, float] = {}  # key -> clock() of its next token

    def take_shared(self, store: Store, key: str) -> float:
        """`take` counted in the database of `store` (PostgreSQL), falling
        back to this process's buckets when the database fails. Tokens are
        taken from the database a lease at a time (`lease`): an instance
        holds at most that many of a client's tokens unspent."""
        with self._lock:
            if self._leased.get(key, 0) >= 1:
                self._leased[key] -= 1
                return 0.0
            # refused a moment ago: no token before then, so a flood past
            # the limit costs the database nothing until it is due
            wait = self._refused_until.get(key, 0.0) - self.clock()
            if wait > 0:
                return wait
        try:
            taken, wait = rate_limits.take(store, self.name, key, self.rate, self.burst, self.lease)
            now = self.clock()
            if now - self._pruned_at >= SHARED_CHORE_S:
                self._pruned_at = now
                rate_limits.prune(store, self.name, self.rate, self.burst)
        except (StoreError, sa.exc.SQLAlchemyError) as exc:
            now = self.clock()
            if now - self._failed_at >= SHARED_CHORE_S:
                self._failed_at = now
                log.warning("rate limit %s counted per process: database error: %s", self.name, exc)
            return self.take(key)
        with self._lock:
            if len(self._leased) + len(self._refused_until) >= MAX_TRACKED:
                # unspent leases only lower what clients get; the database
                # still holds what refusals are due
                self._leased.clear()
                self._refused_until.clear()
            if taken:
                self._leased[key] = self._leased.get(key, 0) + taken - 1
                self._refused_until.pop(key, None)
            else:
                self._refused_until[key] = self.clock() + wait
        return wait

    def take(self, key: str) -> float:
        """0 when allowed (a token is used), else seconds until one is free."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                if len(self._buckets) > MAX_TRACKED:
                    self._prune(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            k
            for k, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]


@dataclass(frozen=True, slots=True)
class Rule:
    method: str
    path: str  # exact path
    buckets: TokenBuckets


class RateLimit:
    def __init__(self, app: ASGIApp, rules: Sequence[Rule]) -> None:
        self.app, self.rules = app, rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for rule in self.rules:
                if scope["method"] == rule.method and scope["path"] == rule.path:
                    wait = await _take(scope, rule.buckets)
                    if wait:
                        answer = problem(429, "too many requests from this address; slow down")
                        answer.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                        await answer(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)


async def _take(scope: Scope, buckets: TokenBuckets) -> float:
    key = client_key(scope)
    app = scope.get("app")
    store = getattr(getattr(app, "state", None), "store", None)
    if buckets.name and isinstance(store, Store) and not store.is_sqlite:
        return await run_in_threadpool(buckets.take_shared, store, key)
    return buckets.take(key)


# Logins: 10 attempts at once, then one every 6 seconds, per address.
LOGIN_RATE, LOGIN_BURST = 1 / 6, 10


def default_rules(reports_path: str, reports_rate: float, reports_burst: int) -> list[Rule]:
    """The receiver's rule (its rate and burst are settings: see
    tlsrpt.settings for how they are sized) and the login's."""
    return [
        Rule("POST", reports_path, TokenBuckets(reports_rate, reports_burst, name="reports")),
        Rule("POST", "/login", TokenBuckets(LOGIN_RATE, LOGIN_BURST, name="login")),
    ]
