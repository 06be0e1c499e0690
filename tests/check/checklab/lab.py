"""The lab: DNS, HTTPS and SMTP servers on 127.77.0.x in a background thread.

Usage: build a `Lab`, `add_domain(...)` the scenarios, `start()`, run the
checker with `lab.cli_args()`, `stop()`. No root needed: every server
listens on a high port of a loopback address.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from checklab.dns_server import AuthoritativeServer
from checklab.https_server import HttpsServer
from checklab.pki import CertKind, LabPki
from checklab.smtp_server import SmtpServer
from checklab.unbound import Unbound, unbound_binary
from checklab.zones import Addr, DomainSpec, MxSpec, ZoneSet

T = TypeVar("T")


class Lab:
    def __init__(self, directory: Path, latency: float = 0.0, validating: bool = True) -> None:
        self.directory = directory
        self.pki = LabPki(directory)
        self.zones = ZoneSet()
        self.zones.add_zone(".")
        self.zones.add_zone("lab.test.")
        self.smtp_certs: dict[str, CertKind] = {}
        self.dns = AuthoritativeServer(latency)
        self.https = HttpsServer(self.pki, latency)
        self.smtp = {
            "starttls": SmtpServer(self.pki, self.smtp_certs, latency=latency),
            "plain": SmtpServer(self.pki, self.smtp_certs, starttls=False, latency=latency),
            "old-tls": SmtpServer(self.pki, self.smtp_certs, old_tls=True, latency=latency),
        }
        self.validating = validating and unbound_binary() is not None
        self.unbound: Unbound | None = None
        self.dns_port = self.https_port = self.smtp_port = 0
        self.specs: dict[str, DomainSpec] = {}
        self._extra_dns: list[AuthoritativeServer] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # --- building ---------------------------------------------------------

    def add_domain(self, spec: DomainSpec) -> None:
        self.specs[spec.domain] = spec
        self.zones.add_domain(spec, self.pki, self.smtp_certs)
        answer = spec.policy_answer()
        if spec.policy is not None:
            self.https.serve(f"mta-sts.{spec.domain}", answer, spec.policy.cert)

    def add_mx_host(self, mx: MxSpec, signed: bool = False) -> None:
        """An MX host outside any scenario domain (a provider's, shared)."""
        parent = mx.host.split(".", 1)[1]
        self.zones.add_zone(parent, signed)
        self.zones.add_mx_host(mx, self.pki, self.smtp_certs)

    # --- running ----------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    def start(self) -> Lab:
        # The lab's servers see probes hang up mid-handshake on purpose; their
        # libraries log that loudly. Tests assert on the checker, not on those logs.
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        self.zones.sign()
        for origin, zone in self.zones.zones.items():
            self.dns.add_zone(zone, signed=origin in self.zones.signed)
        self._thread.start()
        self._run(self._start_servers())
        if self.validating:
            self.unbound = Unbound(
                self.directory,
                Addr.RESOLVER,
                (Addr.DNS, self.dns_port),
                self.zones.trust_anchors(),
            )
            self.unbound.start()
        return self

    async def _start_servers(self) -> None:
        self.dns_port = await self.dns.start(Addr.DNS, 0)
        self.https_port = await self.https.start(Addr.HTTPS, 0)
        for attempt in range(20):
            try:
                await self._start_smtp()
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or attempt == 19:
                    raise
                for server in self.smtp.values():
                    await server.stop()

    async def _start_smtp(self) -> None:
        self.smtp_port = await self.smtp["starttls"].start(Addr.SMTP, 0)
        await self.smtp["starttls"].start(Addr.SMTP_V6, self.smtp_port)
        await self.smtp["plain"].start(Addr.SMTP_PLAIN, self.smtp_port)
        await self.smtp["old-tls"].start(Addr.SMTP_OLD_TLS, self.smtp_port)

    def stop(self) -> None:
        if self.unbound is not None:
            self.unbound.stop()
        if self._thread.is_alive():
            self._run(self._stop_servers())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    async def _stop_servers(self) -> None:
        for server in (self.dns, *self._extra_dns):
            await server.stop()
        await self.https.stop()
        for server in self.smtp.values():
            await server.stop()

    def serve_dns_on(self, host: str) -> tuple[AuthoritativeServer, int]:
        """Another authoritative server with the lab zones, on `host` (e.g. ::1);
        stopped with the lab. Returns it and its port."""
        server = AuthoritativeServer()
        server.zones = self.dns.zones
        port = self._run(server.start(host, 0))
        self._extra_dns.append(server)
        return server, port

    def set_latency(self, seconds: float) -> None:
        self.dns.latency = self.https.latency = seconds
        for server in self.smtp.values():
            server.latency = seconds

    # --- using ------------------------------------------------------------

    @property
    def nameserver(self) -> str:
        """The validating resolver when there is one, else the authoritative server."""
        if self.unbound is not None:
            return f"{Addr.RESOLVER}:{self.unbound.port}"
        return f"{Addr.DNS}:{self.dns_port}"

    def cli_args(self, allow_private: bool = True, nameserver: str | None = None) -> list[str]:
        args = [
            "--nameserver",
            nameserver or self.nameserver,
            "--smtp-port",
            str(self.smtp_port),
            "--https-port",
            str(self.https_port),
            "--ca-file",
            str(self.pki.ca_file),
        ]
        if allow_private:
            args.append("--allow-private-addresses")
        return args
