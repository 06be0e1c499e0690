"""The registry attribution asks while a batch is ingested
(`tlsrpt.report.attribution.Registry`): the registered domains and their
MX hosts, read from the store once per name and batch."""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager

from sqlalchemy.engine import Connection

from tlsrpt.store import attribution_reads

Connect = Callable[[], AbstractContextManager[Connection]]


class StoreRegistry:
    """A `Registry` over the store. `connect` gives a connection to read
    with (a read transaction of its own, or the caller's)."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._registered: dict[str, bool] = {}
        self._owners: dict[str, frozenset[str]] = {}

    def is_registered(self, domain: str) -> bool:
        known = self._registered.get(domain)
        if known is None:
            with self._connect() as conn:
                known = domain in attribution_reads.registered_among(conn, [domain])
            self._registered[domain] = known
        return known

    def mx_owners(self, host: str) -> Collection[str]:
        known = self._owners.get(host)
        if known is None:
            with self._connect() as conn:
                known = frozenset(attribution_reads.mx_owners(conn, [host]).get(host, ()))
            self._owners[host] = known
        return known
