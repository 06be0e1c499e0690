"""The asynchronous adapter: DNS, HTTPS and SMTP observations of a domain.

Lookups of one domain run concurrently; an MX host is observed once per run
(a shared task per host name), however many domains use it; every domain has
a time budget, and what was gathered before it ran out is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from tlsrpt.check.facts import DomainFacts, MxEntry, MxHostFacts, RuaCheck
from tlsrpt.check.net import resolve_vetted, tls_connect
from tlsrpt.check.policy_fetch import fetch_policy
from tlsrpt.check.resolver import DnsStatus, Resolver
from tlsrpt.check.safety import AddressPolicy
from tlsrpt.check.smtp_probe import probe_smtp
from tlsrpt.check.trust import Trust
from tlsrpt.domains import ip_literal
from tlsrpt.records import parse_tlsrpt_record, select_sts_record, select_tlsrpt_record


@dataclass(frozen=True)
class CheckOptions:
    nameservers: tuple[str, ...] = ()
    timeout: float = 10.0  # one DNS lookup, connection or exchange
    budget: float = 60.0  # one domain, everything included
    concurrency: int = 20
    allow_private: bool = False
    probe_mx: bool = True
    smtp_port: int = 25
    https_port: int = 443
    ca_file: str | None = None
    expiry_warning_days: int = 14
    helo: str = field(default_factory=socket.gethostname)


def _result_or_nothing(task: asyncio.Task[MxHostFacts]) -> MxHostFacts:
    """The observation, or an empty one when the budget ran out before it."""
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()
    return MxHostFacts(task.get_name(), None, None, None)


class Gatherer:
    def __init__(self, options: CheckOptions, resolver: Resolver, trust: Trust) -> None:
        self.options = options
        self.resolver = resolver
        self.trust = trust
        self.policy = AddressPolicy(options.allow_private)
        self._mx: dict[str, asyncio.Task[MxHostFacts]] = {}

    async def gather(self, domain: str) -> DomainFacts:
        parts: dict[str, Any] = {}
        mx_tasks: list[tuple[int, bool, asyncio.Task[MxHostFacts]]] = []
        started = time.monotonic()
        timed_out = False
        try:
            async with asyncio.timeout(self.options.budget):
                await self._gather(domain, parts, mx_tasks)
        except TimeoutError:
            timed_out = True
        if mx_tasks:
            parts["mx_hosts"] = tuple(
                MxEntry(preference, _result_or_nothing(task), implicit)
                for preference, implicit, task in mx_tasks
            )
        return DomainFacts(
            domain,
            **parts,
            probe_enabled=self.options.probe_mx,
            timed_out=timed_out,
            budget=self.options.budget,
            elapsed=time.monotonic() - started,
        )

    async def _gather(
        self,
        domain: str,
        parts: dict[str, Any],
        mx_tasks: list[tuple[int, bool, asyncio.Task[MxHostFacts]]],
    ) -> None:
        query = self.resolver.query
        tlsrpt, sts, mx = await asyncio.gather(
            query(f"_smtp._tls.{domain}", "TXT"),
            query(f"_mta-sts.{domain}", "TXT"),
            query(domain, "MX", detect_bogus=True),
        )
        parts.update(tlsrpt=tlsrpt, sts=sts, mx=mx)
        jobs: list[Awaitable[object]] = []
        if mx.status == DnsStatus.OK:
            for preference, host in sorted(mx.records):
                if host != ".":
                    mx_tasks.append((preference, False, self._mx_host(host)))
        elif mx.status in (DnsStatus.NODATA, DnsStatus.NXDOMAIN):
            apex = await resolve_vetted(self.resolver, domain, self.policy)
            parts["apex"] = apex
            if apex.exists:  # RFC 5321 §5.1: the implicit MX
                mx_tasks.append((0, True, self._mx_host(domain)))
        if sts.status == DnsStatus.OK and select_sts_record(sts.records).valid:
            jobs.append(self._policy(domain, parts))
        if tlsrpt.status == DnsStatus.OK:
            selected = select_tlsrpt_record(tlsrpt.records, domain=domain, strict=False)
            if selected.text is not None:
                jobs.append(self._rua(selected.text, domain, parts))
        jobs += [asyncio.shield(task) for _, _, task in mx_tasks]
        await asyncio.gather(*jobs)

    async def _policy(self, domain: str, parts: dict[str, Any]) -> None:
        parts["policy"] = await fetch_policy(
            self.resolver,
            self.policy,
            self.trust.webpki,
            domain,
            self.options.https_port,
            self.options.timeout,
        )

    async def _rua(self, text: str, domain: str, parts: dict[str, Any]) -> None:
        record = parse_tlsrpt_record(text, domain=domain, strict=False).value
        if record is None:
            return
        parts["rua"] = tuple(await asyncio.gather(*(self._rua_check(u) for u in record.rua)))

    async def _rua_check(self, uri: str) -> RuaCheck:
        if uri[:7].lower() == "mailto:":
            address = unquote(uri[7:].split("?", 1)[0]).split(",")[0]
            target = address.rpartition("@")[2].lower().rstrip(".")
            mx = await self.resolver.query(target, "MX")
            addresses = None
            if mx.status == DnsStatus.NODATA:
                addresses = await resolve_vetted(self.resolver, target, self.policy)
            return RuaCheck(uri, target, mx=mx, addresses=addresses)
        parts = urlsplit(uri)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port or self.options.https_port
        tls = await tls_connect(
            self.resolver, self.policy, self.trust.webpki, host, port, self.options.timeout
        )
        return RuaCheck(uri, host, tls=tls)

    def _mx_host(self, host: str) -> asyncio.Task[MxHostFacts]:
        """The shared observation of one MX host (probed once per run)."""
        task = self._mx.get(host)
        if task is None:
            task = asyncio.create_task(self._observe(host), name=host)
            self._mx[host] = task
        return task

    async def _observe(self, host: str) -> MxHostFacts:
        if ip_literal(host) is not None:
            # An address as MX target (RFC 1035 §3.3.9 wants a name): vetted,
            # but neither looked up (no TLSA either) nor probed, as senders
            # look the name up and find nothing.
            return MxHostFacts(
                host, await resolve_vetted(self.resolver, host, self.policy), None, None
            )
        query = self.resolver.query
        resolution, tlsa = await asyncio.gather(
            resolve_vetted(self.resolver, host, self.policy),
            query(f"_25._tcp.{host}", "TLSA", detect_bogus=True),
        )
        facts = MxHostFacts(host, resolution, None, tlsa)
        expanded = resolution.expanded
        if expanded is not None:  # RFC 7672 §2.2.3: TLSA at the expanded name first
            tlsa_expanded = await query(f"_25._tcp.{expanded}", "TLSA", detect_bogus=True)
            facts = dataclasses.replace(facts, tlsa_expanded=tlsa_expanded)
        if not self.options.probe_mx:
            return facts
        # SNI: the MX host name (RFC 8461 §7.1); DANE senders send the TLSA base
        # domain instead (RFC 7672 §8.1), so it gets probes of its own.
        base, _ = facts.tlsa_base()
        names = (host,) if base == host else (host, base)
        probes = await asyncio.gather(
            *(
                probe_smtp(
                    name,
                    address,
                    self.options.smtp_port,
                    self.trust.probe,
                    self.options.timeout,
                    self.options.helo,
                )
                for name in names
                for address in resolution.allowed
            )
        )
        count = len(resolution.allowed)
        return dataclasses.replace(
            facts,
            probes=tuple(probes[:count]),
            dane_probes=tuple(probes[count:]) if base != host else None,
        )

    async def aclose(self) -> None:
        """Cancel MX observations nobody waits for any more."""
        tasks = list(self._mx.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
