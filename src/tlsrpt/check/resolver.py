"""Async DNS adapter: dnspython's asyncio query layer -> plain `DnsAnswer` data.

Every answer records its status (an empty answer and a failed lookup are
different facts: RFC 7672 §2.1 forbids treating SERVFAIL as "no TLSA") and
whether the validating resolver vouched for it (the AD bit, RFC 4035 §3.2.3;
requested with the AD flag as RFC 6840 §5.7 allows).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tlsrpt.check.dnswire import (
    AD,
    CD,
    NOERROR,
    NXDOMAIN,
    RD,
    TYPES,
    Response,
    WireError,
    build_query,
    encode_name,
    parse_response,
    rcode_text,
    response_id,
)
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


# TXT records stay character-strings: the records parsers concatenate them
# (RFC 8460 §3, RFC 8461 §3.1) and point at undecodable bytes.
_CONVERTERS: dict[str, Any] = {
    "TLSA": lambda r: TlsaRecord(*r),
}


def system_nameservers() -> list[tuple[str, int]]:
    """The nameservers of /etc/resolv.conf, as dnspython reads them."""
    # Imported here: dnspython's resolver pulls in its DoH client (httpx), a
    # tenth of a second of start-up that runs with --nameserver do not need.
    import dns.exception
    import dns.nameserver
    import dns.resolver

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


ROOT, NS = b"\x00", 2  # the root zone and its NS records: what every resolver can answer


def nameserver_text(host: str, port: int) -> str:
    """`127.0.0.1:5353`, `[::1]:5353`: the form --nameserver takes."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ResolverUnavailable(Exception):
    """No configured nameserver answers at all: an environment error, not a
    finding against the domains (which would all fail the same way)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems  # (nameserver, what happened), in configured order
        super().__init__(
            "no DNS resolver answers ("
            + "; ".join(f"{ns}: {why}" for ns, why in problems)
            + "); check --nameserver or the system resolver configuration"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "code": "resolver-unavailable",
            "message": str(self),
            "nameservers": [{"nameserver": ns, "problem": why} for ns, why in self.problems],
        }


class Resolver:
    """The checker's stub resolver: explicit nameservers (labs) or the system's.

    Messages are built and read by `dnswire` and exchanged over asyncio
    sockets (UDP, TCP when truncated): dnspython's message classes, and
    before them its `Resolver` class, cost most of the checker's CPU per
    domain at bulk concurrency. Each lookup tries the nameservers in order;
    SERVFAIL/REFUSED moves on to the next one, timeouts are retried until
    the lookup's lifetime (`timeout`) is spent.

    Answers are shared within a run: concurrent and repeated lookups of the
    same name and type (a provider's rua domain or MX host named by thousands
    of customer domains, a domain's MX looked up again for its own mailto:
    rua) are asked once. Failed lookups are not kept, so a transient failure
    is retried by the next domain that needs the name.
    """

    CACHE_SIZE = 4096
    # Queries outstanding at once. A burst beyond what the resolver's socket
    # buffer holds is dropped, and each drop costs a retry after `_attempt`
    # seconds: a bulk run paces itself instead.
    MAX_IN_FLIGHT = 128
    PAYLOAD = 1232  # EDNS buffer size (DNS flag day 2020)

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 5.0) -> None:
        """Raises ValueError for a bad nameserver or no usable configuration."""
        self._servers = [parse_nameserver(ns) for ns in nameservers] or system_nameservers()
        self._lifetime = timeout
        # Every nameserver gets a try within the lifetime, at most 2 s each.
        self._attempt = min(timeout / len(self._servers), 2.0)
        self._in_flight = asyncio.Semaphore(self.MAX_IN_FLIGHT)
        self._cache: OrderedDict[tuple[str, str, int], asyncio.Future[DnsAnswer]] = OrderedDict()

    async def ensure_usable(self) -> None:
        """Return as soon as one nameserver answers a query for the root zone's
        NS records with NOERROR; raise ResolverUnavailable, saying what each
        did (silence, connection refused, REFUSED, SERVFAIL), when none does.

        A domain whose own servers fail makes its lookups fail, not this one.
        """
        probes = [asyncio.ensure_future(self._probe(host, port)) for host, port in self._servers]
        try:
            for done in asyncio.as_completed(probes):
                if await done is None:
                    return
        finally:
            for probe in probes:
                probe.cancel()
        problems = [
            (nameserver_text(host, port), probe.result() or "")
            for (host, port), probe in zip(self._servers, probes, strict=True)
        ]
        raise ResolverUnavailable(problems)

    async def _probe(self, host: str, port: int) -> str | None:
        """None when (host, port) answers for the root zone, else what happened."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lifetime
        while (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(min(self._attempt, remaining)):
                    response = await _ask(host, port, ROOT, NS, RD, self.PAYLOAD)
            except TimeoutError:
                continue
            except OSError as exc:
                return exc.strerror or _short(exc)
            except (EOFError, WireError) as exc:
                return f"unreadable answer: {_short(exc)}"
            if response.rcode == NOERROR:
                return None
            return f"answered {rcode_text(response.rcode)} for the root zone"
        return f"no answer within {self._lifetime:g} s"

    async def query(self, name: str, rdtype: str, detect_bogus: bool = False) -> DnsAnswer:
        """Look `name` up (shared within the run); see `lookup`."""
        answer = await self._shared(name, rdtype, RD | AD)
        if detect_bogus and answer.status == DnsStatus.SERVFAIL:
            return _bogus_or(answer, await self._shared(name, rdtype, RD | CD))
        return answer

    async def _shared(self, name: str, rdtype: str, flags: int) -> DnsAnswer:
        key = (name.lower().rstrip("."), rdtype, flags)
        future = self._cache.get(key)
        if future is None:
            future = asyncio.ensure_future(self._query(name, rdtype, flags))
            future.add_done_callback(lambda done: self._forget_failure(key, done))
            self._cache[key] = future
            if len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        # Shielded: one caller giving up (its domain's budget) cancels nobody else's lookup.
        return await asyncio.shield(future)

    def _forget_failure(self, key: tuple[str, str, int], done: asyncio.Future[DnsAnswer]) -> None:
        failed = done.cancelled() or done.exception() is not None or done.result().failed
        if failed and self._cache.get(key) is done:
            del self._cache[key]

    async def lookup(self, name: str, rdtype: str, detect_bogus: bool = False) -> DnsAnswer:
        """Look `name` up, unshared; with `detect_bogus`, tell a DNSSEC failure from an outage.

        A validating resolver answers SERVFAIL for bogus data; asking again
        with Checking Disabled (RFC 4035 §3.2.2) succeeds only if the data
        exists and failed validation.
        """
        answer = await self._query(name, rdtype, RD | AD)
        if detect_bogus and answer.status == DnsStatus.SERVFAIL:
            return _bogus_or(answer, await self._query(name, rdtype, RD | CD))
        return answer

    async def _exchange(
        self, name: str, rdtype: str, flags: int
    ) -> tuple[Response | None, DnsStatus, str | None]:
        """One lookup: (response, status for a failure, error)."""
        try:
            qname = encode_name(name)
            qtype = TYPES[rdtype]
        except (WireError, KeyError) as exc:
            return None, DnsStatus.ERROR, _short(exc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lifetime
        errors: list[str] = []
        while True:
            timed_out = False
            for host, port in self._servers:
                try:
                    async with asyncio.timeout_at(deadline), self._in_flight:
                        remaining = deadline - loop.time()
                        async with asyncio.timeout(min(self._attempt, remaining)):
                            response = await _ask(host, port, qname, qtype, flags, self.PAYLOAD)
                except TimeoutError:
                    if loop.time() >= deadline:
                        return None, DnsStatus.TIMEOUT, "DNS lookup timed out"
                    timed_out = True
                    continue
                except (OSError, EOFError, WireError) as exc:
                    errors.append(f"{host}@{port}: {_short(exc)}")
                    continue
                if response.rcode in (NOERROR, NXDOMAIN):
                    return response, DnsStatus.OK, None
                errors.append(f"{host}@{port} answered {rcode_text(response.rcode)}")
            if not timed_out:
                return None, DnsStatus.SERVFAIL, "; ".join(errors)

    async def _query(self, name: str, rdtype: str, flags: int) -> DnsAnswer:
        response, status, error = await self._exchange(name, rdtype, flags)
        if response is None:
            return DnsAnswer(name, rdtype, status, error=error)
        secure, cnames = response.authenticated, response.cnames
        if response.rcode == NXDOMAIN:
            return DnsAnswer(name, rdtype, DnsStatus.NXDOMAIN, secure=secure, cnames=cnames)
        if not response.found:
            return DnsAnswer(name, rdtype, DnsStatus.NODATA, secure=secure, cnames=cnames)
        convert = _CONVERTERS.get(rdtype)
        records = response.records if convert is None else tuple(map(convert, response.records))
        return DnsAnswer(name, rdtype, DnsStatus.OK, records, secure=secure, cnames=cnames)

    async def addresses(self, host: str) -> tuple[DnsAnswer, DnsAnswer]:
        """A and AAAA of `host`, looked up together."""
        a, aaaa = await asyncio.gather(self.query(host, "A"), self.query(host, "AAAA"))
        return a, aaaa


def _bogus_or(answer: DnsAnswer, unchecked: DnsAnswer) -> DnsAnswer:
    """The SERVFAIL `answer`, marked bogus when the unchecked lookup got through."""
    if unchecked.status not in (DnsStatus.OK, DnsStatus.NODATA, DnsStatus.NXDOMAIN):
        return answer
    return DnsAnswer(
        answer.name,
        answer.rdtype,
        DnsStatus.SERVFAIL,
        records=unchecked.records,
        bogus=True,
        cnames=unchecked.cnames,
        error="DNSSEC validation failed (bogus): the answer is served "
        "but its signatures do not validate",
    )


async def _ask(
    host: str, port: int, qname: bytes, qtype: int, flags: int, payload: int
) -> Response:
    """One exchange with one server: UDP, repeated over TCP when truncated (RFC 7766 §5)."""
    qid = secrets.randbits(16)
    query = build_query(qid, qname, qtype, flags, payload)
    response = await _udp(host, port, query, qid, qname, qtype)
    if response.truncated:
        response = await _tcp(host, port, query, qid, qname, qtype)
    return response


async def _udp(host: str, port: int, query: bytes, qid: int, qname: bytes, qtype: int) -> Response:
    """Over a connected socket of its own (a fresh source port per query, and the
    kernel drops datagrams from other addresses); replies to other questions
    are ignored, as a resolver must (RFC 5452 §9.1)."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((host, port))
        await loop.sock_sendall(sock, query)
        while True:
            data = await loop.sock_recv(sock, 65535)
            if response_id(data) != qid:
                continue
            response = parse_response(data, qname, qtype)
            if response is not None:
                return response


async def _tcp(host: str, port: int, query: bytes, qid: int, qname: bytes, qtype: int) -> Response:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        while True:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            data = await reader.readexactly(length)
            if response_id(data) != qid:
                continue
            response = parse_response(data, qname, qtype)
            if response is not None:
                return response
    finally:
        writer.close()


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
