"""The policy fetch against a raw TLS server: HTTP/1.1 framings the lab's
policy server does not produce (chunked, close-delimited, 1xx), broken
responses, and the request itself (RFC 8461 §3.3)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from checklab.pki import CertKind, LabPki

from tlsrpt.check.policy_fetch import MAX_POLICY_BYTES, FetchFailure, PolicyFetch, fetch_policy
from tlsrpt.check.resolver import DnsAnswer, DnsStatus
from tlsrpt.check.safety import AddressPolicy
from tlsrpt.check.trust import Trust

DOMAIN = "raw.test"
HOST = f"mta-sts.{DOMAIN}"
POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mx.raw.test\r\nmax_age: 86400\r\n"


class _Loopback:
    """Answers every address lookup with 127.0.0.1 (the fetch's only DNS need)."""

    async def addresses(self, host: str) -> tuple[DnsAnswer, DnsAnswer]:
        return (
            DnsAnswer(host, "A", DnsStatus.OK, ("127.0.0.1",)),
            DnsAnswer(host, "AAAA", DnsStatus.NODATA),
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("pki"))


def fetch(pki: LabPki, response: bytes) -> tuple[PolicyFetch, bytes]:
    """Serve `response` once over TLS for HOST; fetch; (outcome, request seen)."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(response)
            await writer.drain()
        writer.close()

    async def go() -> PolicyFetch:
        context = pki.server_context(HOST, CertKind.VALID)
        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        trust = Trust.load(str(pki.ca_file), include_system=False)
        policy = AddressPolicy(allow_private=True)
        try:
            return await fetch_policy(_Loopback(), policy, trust.webpki, DOMAIN, port, 2)  # type: ignore[arg-type]
        finally:
            server.close()
            await server.wait_closed()

    result = asyncio.run(go())
    return result, b"".join(seen)


def test_request_is_a_plain_get_without_caching(pki: LabPki) -> None:
    """RFC 8461 §3.3: no conditional request; Host names the policy host."""
    result, request = fetch(
        pki,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
        % (len(POLICY), POLICY),
    )
    assert (result.failure, result.status, result.body) == (None, 200, POLICY)
    head = request.decode("latin-1").lower()
    assert head.startswith("get /.well-known/mta-sts.txt http/1.1\r\n")
    assert f"\r\nhost: {HOST}:".lower() in head
    assert "cache-control: no-cache" in head
    assert "if-modified-since" not in head and "if-none-match" not in head


def test_the_policy_hosts_certificate_is_kept(pki: LabPki) -> None:
    """The leaf the policy host presented, for the watcher's history; a
    failed fetch keeps none."""
    result, _ = fetch(
        pki,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
        % (len(POLICY), POLICY),
    )
    assert result.certificate == pki.chain_der(HOST, CertKind.VALID)[0]
    broken, _ = fetch(pki, b"SMTP is not HTTP\r\n\r\n")
    assert broken.failure == FetchFailure.PROTOCOL and broken.certificate is None


@pytest.mark.parametrize(
    "response",
    [
        # chunked transfer coding
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(POLICY), POLICY),
        # no length: the body ends when the server closes
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + POLICY,
        # an interim 100 response first
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        + b"Content-Length: %d\r\n\r\n%s" % (len(POLICY), POLICY),
    ],
    ids=["chunked", "close-delimited", "interim-100"],
)
def test_framings(pki: LabPki, response: bytes) -> None:
    result, _ = fetch(pki, response)
    assert (result.failure, result.status, result.content_type) == (None, 200, "text/plain")
    assert result.body == POLICY and result.size == len(POLICY)


@pytest.mark.parametrize(
    ("response", "failure"),
    [
        (b"SMTP is not HTTP\r\n\r\n", FetchFailure.PROTOCOL),
        # the body is cut short
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nversion: STSv1\r\n",
            FetchFailure.PROTOCOL,
        ),
        # RFC 8461 §3.3's 64 KiB, counted over chunks as they come
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"4000\r\n"
            + b"a" * 0x4000
            + b"\r\n"
            + (b"4000\r\n" + b"b" * 0x4000 + b"\r\n") * 4
            + b"0\r\n\r\n",
            FetchFailure.OVERSIZE,
        ),
    ],
    ids=["not-http", "truncated", "oversized"],
)
def test_broken_responses(pki: LabPki, response: bytes, failure: FetchFailure) -> None:
    result, _ = fetch(pki, response)
    assert result.failure == failure, result.error
    if failure == FetchFailure.OVERSIZE:
        assert result.size > MAX_POLICY_BYTES and result.body is None


def test_untrusted_certificate_is_webpki_failure(pki: LabPki, tmp_path: Path) -> None:
    """RFC 8461 §3.3: a certificate the trust store does not know is a WebPKI failure."""
    stranger = LabPki(tmp_path)  # another CA: the fetch does not trust it

    async def go() -> PolicyFetch:
        context = stranger.server_context(HOST, CertKind.VALID)
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        trust = Trust.load(str(pki.ca_file), include_system=False)
        try:
            return await fetch_policy(
                _Loopback(),  # type: ignore[arg-type]
                AddressPolicy(allow_private=True),
                trust.webpki,
                DOMAIN,
                port,
                2,
            )
        finally:
            server.close()
            await server.wait_closed()

    result = asyncio.run(go())
    assert result.failure == FetchFailure.WEBPKI, result.error
