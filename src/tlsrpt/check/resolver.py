"""Async DNS adapter: dnspython's asyncio resolver -> plain `DnsAnswer` data.

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

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
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


class Resolver:
    """The checker's resolver: explicit nameservers (labs) or the system's.

    Answers are shared within a run: concurrent and repeated lookups of the
    same name and type (a provider's rua domain or MX host named by thousands
    of customer domains) are asked once. Failed lookups are not kept, so a
    transient failure is retried by the next domain that needs the name.
    """

    CACHE_SIZE = 4096

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 5.0) -> None:
        self._cache: OrderedDict[tuple[str, str, bool], asyncio.Future[DnsAnswer]] = (
            OrderedDict()
        )
        self._resolver = self._make(nameservers, timeout)
        self._resolver.flags = dns.flags.RD | dns.flags.AD
        self._cd_resolver = self._make(nameservers, timeout)
        self._cd_resolver.flags = dns.flags.RD | dns.flags.CD

    @staticmethod
    def _make(nameservers: Sequence[str], timeout: float) -> dns.asyncresolver.Resolver:
        resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(ns)) for ns in nameservers
            ]
        resolver.lifetime = timeout
        resolver.timeout = min(timeout, 2.0)
        resolver.use_edns(0, 0, 1232)
        resolver.cache = None
        return resolver

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

    def _forget_failure(
        self, key: tuple[str, str, bool], done: asyncio.Future[DnsAnswer]
    ) -> None:
        failed = done.cancelled() or done.exception() is not None or done.result().failed
        if failed and self._cache.get(key) is done:
            del self._cache[key]

    async def lookup(self, name: str, rdtype: str, detect_bogus: bool = False) -> DnsAnswer:
        """Look `name` up; with `detect_bogus`, tell a DNSSEC failure from an outage.

        A validating resolver answers SERVFAIL for bogus data; asking again
        with Checking Disabled (RFC 4035 §3.2.2) succeeds only if the data
        exists and failed validation.
        """
        answer = await self._query(self._resolver, name, rdtype)
        if detect_bogus and answer.status == DnsStatus.SERVFAIL:
            unchecked = await self._query(self._cd_resolver, name, rdtype)
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

    async def _query(
        self, resolver: dns.asyncresolver.Resolver, name: str, rdtype: str
    ) -> DnsAnswer:
        try:
            answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            responses = list(exc.responses().values())
            response = responses[-1] if responses else None
            return DnsAnswer(
                name,
                rdtype,
                DnsStatus.NXDOMAIN,
                secure=_is_secure(response),
                cnames=_cnames(response),
            )
        except dns.resolver.NoNameservers as exc:
            return DnsAnswer(name, rdtype, DnsStatus.SERVFAIL, error=_short(exc))
        except dns.exception.Timeout:
            return DnsAnswer(name, rdtype, DnsStatus.TIMEOUT, error="DNS lookup timed out")
        except (dns.exception.DNSException, ValueError) as exc:
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, error=_short(exc))
        response = answer.response
        if answer.rrset is None:
            return DnsAnswer(
                name,
                rdtype,
                DnsStatus.NODATA,
                secure=_is_secure(response),
                cnames=_cnames(response),
            )
        convert = _CONVERTERS[rdtype]
        return DnsAnswer(
            name,
            rdtype,
            DnsStatus.OK,
            records=tuple(convert(r) for r in answer.rrset),
            secure=_is_secure(response),
            cnames=_cnames(response),
        )

    async def addresses(self, host: str) -> tuple[DnsAnswer, DnsAnswer]:
        """A and AAAA of `host`, looked up together."""
        a, aaaa = await asyncio.gather(self.query(host, "A"), self.query(host, "AAAA"))
        return a, aaaa


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
