"""SMTP servers for the lab, built on aiosmtpd.

STARTTLS servers choose the certificate by SNI (the MX host name), so one
listening address serves every certificate kind; other addresses serve
without STARTTLS or with TLS 1.0/1.1 only. Latency is added before every
reply, the greeting included.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections import Counter
from typing import Any

from aiosmtpd.smtp import SMTP

from checklab.pki import CertKind, LabPki


class _LatencySMTP(SMTP):
    def __init__(self, lab: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lab = lab

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._lab.connections += 1
        super().connection_made(transport)

    async def push(self, status: str) -> None:
        if self._lab.latency:
            await asyncio.sleep(self._lab.latency)
        await super().push(status)


class _Handler:
    """No mail is ever sent by the checker; aiosmtpd's defaults suffice."""


class SmtpServer:
    """One listening address: with STARTTLS (certificate by SNI) or without."""

    def __init__(
        self,
        pki: LabPki,
        certs: dict[str, CertKind],
        starttls: bool = True,
        old_tls: bool = False,
        latency: float = 0.0,
    ) -> None:
        self.pki = pki
        self.certs = certs  # shared registry: MX host name -> certificate kind
        self.latency = latency
        self.old_tls = old_tls
        self.connections = 0
        self.handshakes: Counter[str] = Counter()
        self._servers: list[asyncio.Server] = []
        self._context: ssl.SSLContext | None = None
        if starttls:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            pki.leaf("lab-default.test", CertKind.VALID).configure_cert(self._context)
            if old_tls:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    self._context.minimum_version = ssl.TLSVersion.TLSv1
                    self._context.maximum_version = ssl.TLSVersion.TLSv1_1
                self._context.set_ciphers("DEFAULT:@SECLEVEL=0")
            self._context.sni_callback = self._select_certificate

    def _select_certificate(
        self, ssl_object: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        if server_name is None:
            return None
        self.handshakes[server_name] += 1
        kind = self.certs.get(server_name)
        if kind == CertKind.HANDSHAKE_FAILURE:
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        if kind is not None:
            ssl_object.context = self.pki.server_context(server_name, kind, self.old_tls)
        return None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _LatencySMTP(
                self, _Handler(), hostname="mx.lab.test", tls_context=self._context, timeout=30
            ),
            host,
            port,
        )
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
