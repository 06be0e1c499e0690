"""Per-client rate limits (token buckets) as ASGI middleware.

The report receiver must stay open to anyone (RFC 8460 §5.4: senders do not
authenticate), so it is limited by client address instead; so is the
dashboard login (password guessing). A refused request gets 429 with
Retry-After and a problem-details body. The client address is what the
server sees (uvicorn applies X-Forwarded-For only from trusted proxies),
an IPv6 client counted by its /64 (`client_key`).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from tlsrpt.web.problems import problem

# Beyond this many tracked clients, full buckets (idle clients) are dropped.
MAX_TRACKED = 10_000


def client_key(scope: Scope) -> str:
    """The key a client's requests are counted under: its address as the
    server resolved it, an IPv6 address by its /64 (what one subscriber is
    usually given, RFC 6177 §2: counting single addresses of it would let
    one client take 2^64 keys), an IPv4-mapped one as IPv4."""
    client = scope.get("client")
    if not client:
        return "unknown"
    host = str(client[0])
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:  # a Unix socket path, or a proxy's odd value
        return host[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class TokenBuckets:
    """`burst` requests at once per key, refilled at `rate` per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

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
                    wait = rule.buckets.take(client_key(scope))
                    if wait:
                        answer = problem(429, "too many requests from this address; slow down")
                        answer.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                        await answer(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)


# Reports: a large sender posts one report per policy domain per day, all
# at about the same time, so the burst is generous (a hosting provider's
# thousands of domains) and the steady rate modest.
REPORTS_RATE, REPORTS_BURST = 20.0, 2000
# Logins: 10 attempts at once, then one every 6 seconds, per address.
LOGIN_RATE, LOGIN_BURST = 1 / 6, 10


def default_rules(reports_path: str) -> list[Rule]:
    return [
        Rule("POST", reports_path, TokenBuckets(REPORTS_RATE, REPORTS_BURST)),
        Rule("POST", "/login", TokenBuckets(LOGIN_RATE, LOGIN_BURST)),
    ]
