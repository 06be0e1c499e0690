"""HTTPS servers for MTA-STS policies (and https rua endpoints).

One asyncio server per address: the certificate is chosen by SNI (valid,
expired, wrong name, untrusted), the answer by Host (status, content type,
body, redirect, delay). Latency is added before the TLS handshake (as a
slow TCP accept) and before the response.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import Counter
from dataclasses import dataclass

from checklab.pki import CertKind, LabPki

POLICY_PATH = "/.well-known/mta-sts.txt"


@dataclass(frozen=True)
class HttpAnswer:
    status: int = 200
    reason: str = "OK"
    content_type: str | None = "text/plain"
    body: bytes = b""
    location: str | None = None
    delay: float = 0.0


class _PausedProtocol(asyncio.StreamReaderProtocol):
    """Reads nothing until the TLS layer is in place.

    The lab waits (latency) before its TLS handshake; a ClientHello read into
    the plain stream meanwhile would be lost to the TLS layer started later.
    `loop.start_tls` resumes reading once it has taken over the transport.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.pause_reading()  # type: ignore[attr-defined]


class HttpsServer:
    def __init__(self, pki: LabPki, latency: float = 0.0) -> None:
        self.pki = pki
        self.latency = latency
        self.answers: dict[str, HttpAnswer] = {}
        self.certs: dict[str, CertKind] = {}
        self.requests: Counter[str] = Counter()
        self.handshakes: Counter[str] = Counter()
        self._servers: list[asyncio.Server] = []
        self._clients: set[asyncio.Task[None]] = set()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        pki.leaf("lab-default.test", CertKind.VALID).configure_cert(self._context)
        self._context.sni_callback = self._select_certificate

    def serve(self, host: str, answer: HttpAnswer | None, cert: CertKind = CertKind.VALID) -> None:
        """Present `cert` for SNI `host`; answer requests for Host `host` with `answer`."""
        self.certs[host] = cert
        if answer is not None:
            self.answers[host] = answer

    def _select_certificate(
        self, ssl_object: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        if server_name is None:
            return
        self.handshakes[server_name] += 1
        kind = self.certs.get(server_name)
        if kind is not None:
            ssl_object.context = self.pki.server_context(server_name, kind)

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.StreamReaderProtocol:
            return _PausedProtocol(asyncio.StreamReader(), self._client, loop=loop)

        server = await loop.create_server(protocol, host, port)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._clients):
            task.cancel()
        for server in self._servers:
            await server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        task.add_done_callback(self._clients.discard)
        with contextlib.suppress(
            OSError,
            ssl.SSLError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
        ):
            if self.latency:
                await asyncio.sleep(self.latency)
            async with asyncio.timeout(30):
                await writer.start_tls(self._context)
                head = await reader.readuntil(b"\r\n\r\n")
                await self._respond(head, writer)
        writer.close()

    async def _respond(self, head: bytes, writer: asyncio.StreamWriter) -> None:
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.partition(" ")[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        host = headers.get("host", "").rsplit(":", 1)[0].lower()
        self.requests[host] += 1
        answer = self.answers.get(host)
        if answer is None or method != "GET" or path != POLICY_PATH:
            answer = HttpAnswer(status=404, reason="Not Found", body=b"not found\n")
        delay = self.latency + answer.delay
        if delay:
            await asyncio.sleep(delay)
        out = [
            f"HTTP/1.1 {answer.status} {answer.reason}",
            f"Content-Length: {len(answer.body)}",
            "Connection: close",
        ]
        if answer.content_type is not None:
            out.append(f"Content-Type: {answer.content_type}")
        if answer.location is not None:
            out.append(f"Location: {answer.location}")
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + answer.body)
        await writer.drain()
