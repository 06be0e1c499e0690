"""Run the checker over many domains: bounded concurrency, results streamed
in completion order."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterable

from tlsrpt.check.evaluate import DomainReport, evaluate
from tlsrpt.check.gather import CheckOptions, Gatherer
from tlsrpt.check.resolver import Resolver
from tlsrpt.check.trust import Trust


class Checker:
    """One run: one resolver, one trust store, one MX probe cache."""

    def __init__(self, options: CheckOptions, trust: Trust | None = None) -> None:
        self.options = options
        self.trust = trust or Trust.load(options.ca_file)
        self.resolver = Resolver(options.nameservers, timeout=options.timeout)
        self.gatherer = Gatherer(options, self.resolver, self.trust)

    async def check_resolver(self) -> None:
        """Raise ResolverUnavailable when no nameserver answers at all (call
        before `run`: findings from a dead resolver would blame the domains)."""
        await self.resolver.ensure_usable()

    async def check(self, domain: str) -> DomainReport:
        facts = await self.gatherer.gather(domain)
        return evaluate(
            facts, self.trust.store, dt.datetime.now(dt.UTC), self.options.expiry_warning_days
        )

    async def run(self, domains: Iterable[str]) -> AsyncIterator[DomainReport]:
        """Check every domain, at most `concurrency` at a time; yield each
        report as soon as it is complete."""
        pending = iter(domains)
        results: asyncio.Queue[DomainReport | None] = asyncio.Queue()

        async def worker() -> None:
            try:
                for domain in pending:
                    await results.put(await self.check(domain))
            finally:
                await results.put(None)

        workers = [asyncio.create_task(worker()) for _ in range(max(1, self.options.concurrency))]
        running = len(workers)
        try:
            while running:
                report = await results.get()
                if report is None:
                    running -= 1
                else:
                    yield report
            for task in workers:
                task.result()  # re-raise a worker's unexpected error
        finally:
            for task in workers:
                task.cancel()
            await self.aclose()

    async def aclose(self) -> None:
        await self.gatherer.aclose()
