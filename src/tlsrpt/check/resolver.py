"""Async DNS adapter: dnspython's asyncio query layer -> plain `DnsAnswer` data.

Every answer records its status (an empty answer and a failed lookup are
different facts: RFC 7672 §2.1 forbids treating SERVFAIL as "no TLSA") and
whether the validating resolver vouched for it (the AD bit, RFC 4035 §3.2.3;
requested with the AD flag as RFC 6840 §5.7 allows).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver

from tlsrpt.check.tlsa import TlsaRecord


class DnsStatus(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """One lookup: its status, the records as plain values, and DNSSEC state."""

    name: str
    rdtype: str
    status: DnsStatus
    records: tuple[Any, ...] = ()
    secure: bool = False
    bogus: bool = False
    cnames: tuple[str, ...] = ()
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in (DnsStatus.SERVFAIL, DnsStatus.TIMEOUT, DnsStatus.ERROR)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.rdtype,
            "status": str(self.status),
            "secure": self.secure,
            "bogus": self.bogus,
            "cnames": list(self.cnames),
            "error": self.error,
        }


def parse_nameserver(spec: str) -> tuple[str, int]:
    """`HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address -> (ip, port)."""
    spec = spec.strip()
    host, port = spec, 53
    if spec.startswith("["):
        host, sep, rest = spec[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad nameserver {spec!r}: expected [IPv6]:PORT")
        if rest:
            port = _port(rest[1:], spec)
    elif spec.count(":") == 1:
        host, _, port_text = spec.partition(":")
        port = _port(port_text, spec)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bad nameserver {spec!r}: {host!r} is not an IP address") from None
    return host, port


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad nameserver {spec!r}: port must be 1-65535")
    return int(text)


def _txt(rdata: Any) -> tuple[bytes, ...]:
    # Kept as character-strings: the records parsers concatenate them
    # (RFC 8460 §3, RFC 8461 §3.1) and point at undecodable bytes.
    return tuple(rdata.strings)


_CONVERTERS: dict[str, Any] = {
    "TXT": _txt,
    "MX": lambda r: (r.preference, r.exchange.to_text(omit_final_dot=True).lower()),
    "A": lambda r: r.address,
    "AAAA": lambda r: r.address,
    "TLSA": lambda r: TlsaRecord(r.usage, r.selector, r.mtype, bytes(r.cert)),
}


def _cnames(response: dns.message.Message | None) -> tuple[str, ...]:
    if response is None:
        return ()
    return tuple(
        rrset[0].target.to_text(omit_final_dot=True).lower()
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.CNAME
    )


def _is_secure(response: dns.message.Message | None) -> bool:
    return bool(response is not None and response.flags & dns.flags.AD)


def system_nameservers() -> list[tuple[str, int]]:
    """The nameservers of /etc/resolv.conf, as dnspython reads them."""
    try:
        config = dns.resolver.Resolver(configure=True)
    except dns.exception.DNSException as exc:
        raise ValueError(f"no system resolver configuration ({exc}); use --nameserver") from None
    servers = []
    for ns in config.nameservers:
        if isinstance(ns, str):
            servers.append((ns, config.port))
        elif isinstance(ns, dns.nameserver.Do53Nameserver):
            servers.append((ns.address, ns.port))
    if not servers:
        raise ValueError("no nameserver in the system resolver configuration; use --nameserver")
    return servers


class Resolver:
    """The checker's stub resolver: explicit nameservers (labs) or the system's.

    Built on dnspython's asyncio query layer (`dns.asyncquery`: UDP with
    fallback to TCP on truncation) rather than its `Resolver` class, whose
    per-query bookkeeping (search lists, caching, nameserver scoring) a
    one-shot bulk checker does not need and which cost about a quarter of
    the checker's CPU at bulk concurrency. Each lookup tries the nameservers
    in order; SERVFAIL/REFUSED moves on to the next one, timeouts are retried
    until the lookup's lifetime (`timeout`) is spent.

    Answers are shared within a run: concurrent and repeated lookups of the
    same name and type (a provider's rua domain or MX host named by thousands
    of customer domains) are asked once. Failed lookups are not kept, so a
    transient failure is retried by the next domain that needs the name.
    """

    CACHE_SIZE = 4096
    PAYLOAD = 1232  # EDNS buffer size (DNS flag day 2020)

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 5.0) -> None:
        """Raises ValueError for a bad nameserver or no usable configuration."""
        self._servers = [parse_nameserver(ns) for ns in nameservers] or system_nameservers()
        self._lifetime = timeout
        # Every nameserver gets a try within the lifetime, at most 2 s each.
        self._attempt = min(timeout / len(self._servers), 2.0)
        self._cache: OrderedDict[tuple[str, str, bool], asyncio.Future[DnsAnswer]] = OrderedDict()

    async def query(self, name: str, rdtype: str, detect_bogus: bool = False) -> DnsAnswer:
        """Look `name` up (shared within the run); see `lookup`."""
        key = (name.lower().rstrip("."), rdtype, detect_bogus)
        future = self._cache.get(key)
        if future is None:
            future = asyncio.ensure_future(self.lookup(name, rdtype, detect_bogus))
            future.add_done_callback(lambda done: self._forget_failure(key, done))
            self._cache[key] = future
            if len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        # Shielded: one caller giving up (its domain's budget) cancels nobody else's lookup.
        return await asyncio.shield(future)

    def _forget_failure(self, key: tuple[str, str, bool], done: asyncio.Future[DnsAnswer]) -> None:
        failed = done.cancelled() or done.exception() is not None or done.result().failed
        if failed and self._cache.get(key) is done:
            del self._cache[key]

    async def lookup(self, name: str, rdtype: str, detect_bogus: bool = False) -> DnsAnswer:
        """Look `name` up; with `detect_bogus`, tell a DNSSEC failure from an outage.

        A validating resolver answers SERVFAIL for bogus data; asking again
        with Checking Disabled (RFC 4035 §3.2.2) succeeds only if the data
        exists and failed validation.
        """
        answer = await self._query(name, rdtype, dns.flags.RD | dns.flags.AD)
        if detect_bogus and answer.status == DnsStatus.SERVFAIL:
            unchecked = await self._query(name, rdtype, dns.flags.RD | dns.flags.CD)
            if unchecked.status in (DnsStatus.OK, DnsStatus.NODATA, DnsStatus.NXDOMAIN):
                return DnsAnswer(
                    name,
                    rdtype,
                    DnsStatus.SERVFAIL,
                    records=unchecked.records,
                    bogus=True,
                    cnames=unchecked.cnames,
                    error="DNSSEC validation failed (bogus): the answer is served "
                    "but its signatures do not validate",
                )
        return answer

    async def _exchange(
        self, name: str, rdtype: str, flags: int
    ) -> tuple[dns.message.Message | None, DnsStatus, str | None]:
        """One lookup: (response, status for a failure, error)."""
        try:
            qname = dns.name.from_text(name)
            kind = dns.rdatatype.from_text(rdtype)
        except (dns.exception.DNSException, ValueError) as exc:
            return None, DnsStatus.ERROR, _short(exc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lifetime
        errors: list[str] = []
        while True:
            timed_out = False
            for host, port in self._servers:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None, DnsStatus.TIMEOUT, "DNS lookup timed out"
                query = dns.message.make_query(
                    qname, kind, use_edns=0, payload=self.PAYLOAD, flags=flags
                )
                try:
                    response, _ = await dns.asyncquery.udp_with_fallback(
                        query,
                        host,
                        timeout=min(self._attempt, remaining),
                        port=port,
                        ignore_unexpected=True,
                    )
                except dns.exception.Timeout:
                    timed_out = True
                    continue
                except (OSError, EOFError, dns.exception.DNSException, ValueError) as exc:
                    errors.append(f"{host}@{port}: {_short(exc)}")
                    continue
                rcode = response.rcode()
                if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                    return response, DnsStatus.OK, None
                errors.append(f"{host}@{port} answered {dns.rcode.to_text(rcode)}")
            if not timed_out:
                return None, DnsStatus.SERVFAIL, "; ".join(errors)

    async def _query(self, name: str, rdtype: str, flags: int) -> DnsAnswer:
        response, status, error = await self._exchange(name, rdtype, flags)
        if response is None:
            return DnsAnswer(name, rdtype, status, error=error)
        try:
            chain = response.resolve_chaining()  # type: ignore[attr-defined]
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, error=_short(exc))
        secure, cnames = _is_secure(response), _cnames(response)
        if response.rcode() == dns.rcode.NXDOMAIN:
            return DnsAnswer(name, rdtype, DnsStatus.NXDOMAIN, secure=secure, cnames=cnames)
        if chain.answer is None:
            return DnsAnswer(name, rdtype, DnsStatus.NODATA, secure=secure, cnames=cnames)
        convert = _CONVERTERS[rdtype]
        return DnsAnswer(
            name,
            rdtype,
            DnsStatus.OK,
            records=tuple(convert(r) for r in chain.answer),
            secure=secure,
            cnames=cnames,
        )

    async def addresses(self, host: str) -> tuple[DnsAnswer, DnsAnswer]:
        """A and AAAA of `host`, looked up together."""
        a, aaaa = await asyncio.gather(self.query(host, "A"), self.query(host, "AAAA"))
        return a, aaaa


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
