"""Reverse DNS names (PTR, RFC 1035 §3.5) of the sending IPs a page shows,
looked up in the background and kept in memory, so a page never waits for
DNS: it shows the names known now, and the IP alone until its name is.

`ReverseNames.names(addresses)` answers from the cache and starts a
lookup (dnspython's asyncio resolver, on the app's event loop) for each
address it does not know; a name is kept for `ttl` seconds, a failed or
empty lookup for `negative_ttl`; at most `size` entries and `max_pending`
lookups at a time. Report text names the addresses, so only strings that
are IP addresses are looked up; a PTR name is shown escaped like any text.
The `reverse_dns` setting turns lookups off (the resolver is the one of
`dns_nameservers` and `dns_port`, or the system's).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import dns.asyncresolver
import dns.exception
import dns.resolver

log = logging.getLogger(__name__)
MAX_NAME = 253  # characters of a DNS name (RFC 1035 §2.3.4)


class ReverseNames:
    def __init__(
        self,
        nameservers: Sequence[str] = (),
        port: int = 53,
        *,
        ttl: float = 3600.0,
        negative_ttl: float = 300.0,
        size: int = 10_000,
        max_pending: int = 64,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._nameservers, self._port, self._timeout = list(nameservers), port, timeout
        self._ttl, self._negative_ttl, self._size = ttl, negative_ttl, size
        self._max_pending, self._clock = max_pending, clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._pending: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resolver: dns.asyncresolver.Resolver | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop lookups run on (the app's)."""
        self._loop = loop

    def names(self, addresses: Iterable[str | None]) -> dict[str, str]:
        """The PTR names known now of `addresses`; the others are looked up."""
        known: dict[str, str] = {}
        if not self.enabled:
            return known
        now = self._clock()
        for text in {a for a in addresses if a}:
            address = _address(text)
            if address is None:
                continue
            with self._lock:
                kept = self._kept.get(address)
                if kept is not None and kept[1] > now:
                    self._kept.move_to_end(address)
                    if kept[0] is not None:
                        known[text] = kept[0]
                    continue
            self._start(address)
        return known

    def _start(self, address: str) -> None:
        loop = self._loop
        with self._lock:
            if loop is None or address in self._pending or len(self._pending) >= self._max_pending:
                return
            self._pending.add(address)
        try:
            asyncio.run_coroutine_threadsafe(self._lookup(address), loop)
        except RuntimeError:  # the loop is closed: the app is shutting down
            with self._lock:
                self._pending.discard(address)

    async def _lookup(self, address: str) -> None:
        name: str | None = None
        try:
            answer = await self._resolver_of().resolve_address(address, lifetime=self._timeout)
            names = sorted(r.target.to_text(omit_final_dot=True) for r in answer)
            name = names[0][:MAX_NAME] if names else None
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            pass
        except dns.exception.DNSException as exc:
            log.debug("no reverse name for %s: %s", address, exc)
        finally:
            self._keep(address, name)

    def _keep(self, address: str, name: str | None) -> None:
        expires = self._clock() + (self._ttl if name is not None else self._negative_ttl)
        with self._lock:
            self._pending.discard(address)
            self._kept[address] = (name, expires)
            self._kept.move_to_end(address)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def _resolver_of(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            resolver = dns.asyncresolver.Resolver(configure=not self._nameservers)
            if self._nameservers:
                resolver.nameservers = self._nameservers
                resolver.port = self._port
            self._resolver = resolver
        return self._resolver


def _address(text: str) -> str | None:
    """`text` as an IP address (compressed form), or None when it is not one."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None
