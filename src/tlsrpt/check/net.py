"""Resolve-then-vet-then-connect: the only way the checker opens a connection.

The name is resolved once, every address is vetted by the run's
`AddressPolicy`, and the connection goes to the vetted address itself (the
name travels only in SNI and Host), so a rebinding DNS answer cannot redirect
a connection to an address that was not vetted.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

from tlsrpt.check.resolver import DnsAnswer, DnsStatus, Resolver
from tlsrpt.check.safety import AddressPolicy
from tlsrpt.domains import ip_literal


@dataclass(frozen=True, slots=True)
class Resolution:
    """A host name's addresses, split into those the run may and may not reach.

    When the "name" is an IP address literal (an MX target or an https rua
    host written as an address), nothing is looked up: `a` and `aaaa` are
    None and `literal` is the address, vetted like any other.
    """

    host: str
    a: DnsAnswer | None
    aaaa: DnsAnswer | None
    allowed: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]
    literal: str | None = None

    @property
    def answers(self) -> tuple[DnsAnswer, ...]:
        """The DNS answers behind the addresses (none for a literal)."""
        return tuple(x for x in (self.a, self.aaaa) if x is not None)

    @property
    def addresses(self) -> tuple[str, ...]:
        if self.literal is not None:
            return (self.literal,)
        return tuple(r for x in self.answers for r in x.records)

    @property
    def failed(self) -> bool:
        """Neither lookup produced an answer one can rely on."""
        return not self.addresses and any(x.failed for x in self.answers)

    @property
    def exists(self) -> bool:
        return bool(self.addresses)

    @property
    def expanded(self) -> str | None:
        """The host's CNAME-expanded name when every step of the chain is
        DNSSEC-secure (RFC 7672 §2.2.3), else None (no alias, or not secure).

        The AD bit covers the whole answer, the CNAMEs included; both address
        lookups followed the same chain, and each that did must be secure.
        """
        chained = [x for x in self.answers if x.cnames and not x.failed]
        if not chained or not all(x.secure for x in chained):
            return None
        return chained[0].cnames[-1]

    def dns_problem(self) -> str:
        failed = [x for x in self.answers if x.failed]
        if failed:
            return "; ".join(x.error or str(x.status) for x in failed)
        if self.a is not None and self.a.status == DnsStatus.NXDOMAIN:
            return f"{self.host} does not exist (NXDOMAIN)"
        return f"{self.host} has no A or AAAA record"

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "literal": self.literal,
            "addresses": list(self.addresses),
            "refused": [{"address": ip, "reason": why} for ip, why in self.refused],
            "dns": [x.to_json() for x in self.answers],
        }


async def resolve_vetted(resolver: Resolver, host: str, policy: AddressPolicy) -> Resolution:
    literal = ip_literal(host)
    if literal is not None:  # an address where a name belongs: vetted, never looked up
        reason = policy.refusal(literal)
        if reason is None:
            return Resolution(host, None, None, (literal,), (), literal)
        return Resolution(host, None, None, (), ((literal, reason),), literal)
    a, aaaa = await resolver.addresses(host)
    allowed: list[str] = []
    refused: list[tuple[str, str]] = []
    for ip in (*a.records, *aaaa.records):
        reason = policy.refusal(ip)
        if reason is None:
            allowed.append(ip)
        else:
            refused.append((ip, reason))
    return Resolution(host, a, aaaa, tuple(allowed), tuple(refused))


@dataclass(frozen=True, slots=True)
class TlsConnect:
    """Outcome of connecting to a host and completing a validated TLS handshake."""

    host: str
    port: int
    resolution: Resolution
    address: str | None
    error: str | None
    webpki_error: str | None
    tls_version: str | None
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.error is None and self.webpki_error is None

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "address": self.address,
            "addresses": list(self.resolution.addresses),
            "refused": [{"address": ip, "reason": why} for ip, why in self.resolution.refused],
            "error": self.error,
            "webpki_error": self.webpki_error,
            "tls_version": self.tls_version,
            "elapsed": round(self.elapsed, 3),
        }


def certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a (possibly wrapped) error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_certificate_error(exc: ssl.SSLCertVerificationError) -> str:
    return exc.verify_message or str(exc)


async def tls_connect(
    resolver: Resolver,
    policy: AddressPolicy,
    context: ssl.SSLContext,
    host: str,
    port: int,
    timeout: float,
) -> TlsConnect:
    """Resolve, vet and connect to each allowed address until one completes TLS.

    Used for `https:` rua endpoints: proves the host accepts TLS with a valid
    certificate without sending anything.
    """
    started = time.monotonic()
    resolution = await resolve_vetted(resolver, host, policy)

    def done(
        address: str | None,
        error: str | None,
        webpki: str | None = None,
        version: str | None = None,
    ) -> TlsConnect:
        return TlsConnect(
            host, port, resolution, address, error, webpki, version, time.monotonic() - started
        )

    if not resolution.allowed:
        if resolution.refused:
            return done(None, "; ".join(why for _, why in resolution.refused))
        return done(None, resolution.dns_problem())
    errors = []
    for address in resolution.allowed:
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(
                    address, port, ssl=context, server_hostname=host
                )
        except TimeoutError:
            errors.append(f"{address}: timed out after {timeout:g} s")
            continue
        except (OSError, ssl.SSLError) as exc:
            cert_error = certificate_error(exc)
            if cert_error is not None:
                return done(address, None, describe_certificate_error(cert_error))
            reason = exc if isinstance(exc, ssl.SSLError) else exc.strerror or exc
            errors.append(f"{address}: {reason}")
            continue
        ssl_object = writer.get_extra_info("ssl_object")
        version = ssl_object.version() if ssl_object else None
        writer.close()
        try:
            async with asyncio.timeout(1):
                await writer.wait_closed()
        except (OSError, ssl.SSLError, TimeoutError):
            pass
        return done(address, None, None, version)
    return done(None, "; ".join(errors))
