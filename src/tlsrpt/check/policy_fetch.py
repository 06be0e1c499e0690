"""Fetch `https://mta-sts.<domain>/.well-known/mta-sts.txt` as RFC 8461 §3.3 says.

WebPKI validation for the policy host name (§3.3), SNI (§7.1), TLS 1.2 or
newer (§7.2), redirects not followed and no HTTP caching headers (§3.3),
a 64 KiB cap and a timeout (§3.3's suggested limits). The outcome is plain
data; judging it is `evaluate_sts`'s job.

One GET over one connection needs no client library: asyncio streams carry
it (TLS in the event loop's own SSL layer, compiled under uvloop) and h11
parses the HTTP/1.1 response, without the connection pool, locks and
retries of httpcore that a one-request fetch pays for but does not use.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import h11

from tlsrpt.check.net import (
    Resolution,
    certificate_error,
    describe_certificate_error,
    resolve_vetted,
)
from tlsrpt.check.resolver import Resolver
from tlsrpt.check.safety import AddressPolicy

MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 §3.3 suggested limit
POLICY_PATH = "/.well-known/mta-sts.txt"  # RFC 8461 §3.2


class FetchFailure(StrEnum):
    DNS = "dns"
    REFUSED = "refused"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    WEBPKI = "webpki"
    TLS = "tls"
    PROTOCOL = "protocol"
    OVERSIZE = "oversize"


@dataclass(frozen=True, slots=True)
class PolicyFetch:
    """Everything observed while fetching one policy."""

    url: str
    host: str
    resolution: Resolution | None
    failure: FetchFailure | None
    error: str | None
    status: int | None = None
    content_type: str | None = None
    location: str | None = None
    body: bytes | None = None
    size: int = 0
    elapsed: float = 0.0
    # The policy host's leaf certificate (DER) once the WebPKI handshake
    # succeeded, for the watcher's history; None when it did not.
    certificate: bytes | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "addresses": list(self.resolution.addresses) if self.resolution else [],
            "failure": str(self.failure) if self.failure else None,
            "error": self.error,
            "status": self.status,
            "content_type": self.content_type,
            "location": self.location,
            "size": self.size,
            "elapsed": round(self.elapsed, 3),
        }


def policy_url(domain: str, port: int = 443) -> str:
    return f"https://{_authority(domain, port)}{POLICY_PATH}"


def _authority(domain: str, port: int) -> str:
    return f"mta-sts.{domain}" + ("" if port == 443 else f":{port}")


class _Failed(Exception):
    """The fetch stopped: a failure kind and its description."""

    def __init__(self, failure: FetchFailure, error: str) -> None:
        super().__init__(error)
        self.failure = failure
        self.error = error


async def _connect(
    resolution: Resolution, port: int, context: ssl.SSLContext, host: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """TCP to the first vetted address that accepts, then TLS with `host` as SNI
    and WebPKI validation (RFC 8461 §3.3, §7.1)."""
    errors: list[str] = []
    for address in resolution.allowed:
        try:
            reader, writer = await asyncio.open_connection(address, port)
            break
        except OSError as exc:
            errors.append(f"{address}: {exc.strerror or exc}")
    else:
        raise _Failed(FetchFailure.CONNECT, "; ".join(errors))
    try:
        await writer.start_tls(context, server_hostname=host)
    except ssl.SSLError as exc:
        writer.close()
        cert_error = certificate_error(exc)
        if cert_error is not None:
            raise _Failed(FetchFailure.WEBPKI, describe_certificate_error(cert_error)) from None
        raise _Failed(FetchFailure.TLS, f"TLS handshake failed: {exc}") from None
    except OSError as exc:
        writer.close()
        raise _Failed(FetchFailure.CONNECT, str(exc) or type(exc).__name__) from None
    except BaseException:  # the time budget ran out mid-handshake
        writer.close()
        raise
    return reader, writer


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str
) -> dict[str, Any]:
    """GET the policy over HTTP/1.1 (h11 parses): status, headers, capped body."""
    http = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=POLICY_PATH,
        # RFC 8461 §3.3: no conditional requests (HTTP caching MUST NOT be used).
        headers=[
            ("Host", authority),
            ("Accept", "text/plain"),
            ("Cache-Control", "no-cache"),
            ("User-Agent", "tlsrpt-check"),
            ("Connection", "close"),
        ],
    )
    fields: dict[str, Any] = {}
    chunks: list[bytes] = []
    size = 0
    try:
        writer.write(http.send(request) + (http.send(h11.EndOfMessage()) or b""))
        await writer.drain()
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
                fields["status"] = event.status_code
                fields["content_type"] = headers.get("content-type")
                fields["location"] = headers.get("location")
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_POLICY_BYTES:
                    fields["size"] = size
                    return fields
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    except h11.RemoteProtocolError as exc:
        raise _Failed(FetchFailure.PROTOCOL, f"HTTP protocol error: {exc}") from None
    except (OSError, EOFError) as exc:
        raise _Failed(FetchFailure.CONNECT, f"network error: {exc}") from None
    fields["body"] = b"".join(chunks)
    fields["size"] = size
    return fields


def _leaf_certificate(writer: asyncio.StreamWriter) -> bytes | None:
    """The certificate the policy host presented (validated by `_connect`)."""
    ssl_object = writer.get_extra_info("ssl_object")
    return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
        async with asyncio.timeout(1):
            await writer.wait_closed()


async def fetch_policy(
    resolver: Resolver,
    policy: AddressPolicy,
    context: ssl.SSLContext,
    domain: str,
    port: int,
    timeout: float,
) -> PolicyFetch:
    """Redirects are reported, never followed (RFC 8461 §3.3); every failure is data."""
    host = f"mta-sts.{domain}"
    url = policy_url(domain, port)
    started = time.monotonic()
    resolution: Resolution | None = None

    def outcome(failure: FetchFailure | None, error: str | None, **kw: Any) -> PolicyFetch:
        return PolicyFetch(
            url, host, resolution, failure, error, elapsed=time.monotonic() - started, **kw
        )

    try:
        async with asyncio.timeout(timeout):
            resolution = await resolve_vetted(resolver, host, policy)
            if not resolution.allowed:
                if resolution.refused:
                    why = "; ".join(why for _, why in resolution.refused)
                    return outcome(FetchFailure.REFUSED, why)
                return outcome(FetchFailure.DNS, resolution.dns_problem())
            reader, writer = await _connect(resolution, port, context, host)
            try:
                fields = await _exchange(reader, writer, _authority(domain, port))
                fields["certificate"] = _leaf_certificate(writer)
            finally:
                await _close(writer)
    except TimeoutError:
        return outcome(FetchFailure.TIMEOUT, f"no complete answer within {timeout:g} s")
    except _Failed as failed:
        return outcome(failed.failure, failed.error)
    if fields["size"] > MAX_POLICY_BYTES:
        return outcome(
            FetchFailure.OVERSIZE,
            f"the policy is larger than {MAX_POLICY_BYTES} bytes "
            "(RFC 8461 §3.3 suggests senders stop there)",
            **fields,
        )
    return outcome(None, None, **fields)
