"""The domain checker behind `tlsrpt check`.

Sans-I/O core and thin adapters:

- gathering (I/O): `resolver` (asyncio UDP/TCP, messages by the sans-I/O
  `dnswire`; AD bit, bogus detection, answers shared within a run),
  `net` + `safety` (resolve, vet, connect to the vetted address),
  `policy_fetch` (RFC 8461 §3.3, h11 over asyncio streams), `smtp_probe`
  (STARTTLS, served chain),
  `gather` (one domain, shared MX observations, time budget), `runner`
  (bounded concurrency, streamed results);
- evaluation (pure): `certs`, `tlsa`, `evaluate_tlsrpt`, `evaluate_sts`,
  `evaluate_mx`, `evaluate_dane` and `evaluate`, turning `facts` into
  `findings` with stable codes (`findings.CODES`) and `fixes`.

Use::

    checker = Checker(CheckOptions(nameservers=("127.0.0.1:5353",)))
    await checker.check_resolver()  # ResolverUnavailable: no nameserver answers
    async for report in checker.run(["example.com"]):
        print(report.to_json())
"""

from tlsrpt.check.evaluate import DomainReport, evaluate
from tlsrpt.check.facts import DomainFacts
from tlsrpt.check.findings import CODES, Finding, Severity
from tlsrpt.check.gather import CheckOptions
from tlsrpt.check.resolver import ResolverUnavailable, parse_nameserver
from tlsrpt.check.runner import Checker
from tlsrpt.check.trust import Trust

__all__ = [
    "CODES",
    "CheckOptions",
    "Checker",
    "DomainFacts",
    "DomainReport",
    "Finding",
    "ResolverUnavailable",
    "Severity",
    "Trust",
    "evaluate",
    "parse_nameserver",
]
