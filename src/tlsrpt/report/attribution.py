"""Which domain each policy result of a report belongs to. Pure.

A report's `policy-domain` (RFC 8460 §4.4) is the policy domain: for an
`sts` policy the recipient domain, for a `tlsa` one the TLSA base domain,
i.e. the MX host (RFC 8460 §1.1; RFC 7672 §2.2.3). Senders deliver the
report to the recipient domain's `rua` all the same, and Postfix with
libtlsrpt leaves `policy-domain` out of `no-policy-found` results. So a
domain owner would never see those sessions if they were filed under the
name written in the report. `attribute` files each policy result under the
domain its owner knows, and says how (docs/conformance.md#attribution):

- an `sts` policy (or a type tlsrpt does not know) with a `policy-domain`
  stays there: the body wins (RFC 8460 §5.6);
- a `tlsa` or `no-policy-found` policy with a `policy-domain` stays there
  when that name is a registered domain (its owner sees it) or is the
  recipient domain the delivery names; otherwise it goes to that recipient
  domain: the per-domain receiver path, the `TLS-Report-Domain` header
  (RFC 8460 §5.3), the one domain of the report's `sts` policies (which
  wins over a path or header that disagrees with it: the body wins); else
  to the one registered domain whose MX set holds the name (RFC 7672 §2.2.3:
  the TLSA base domain is an MX host);
- a policy without a `policy-domain` goes to that recipient domain, else to
  the Subject's or the RFC 8460 §5.1 file name's domain; else nowhere ("").

Every inference is recorded as a `Deviation` on the policy's domain path.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from tlsrpt.domains import normalize_domain
from tlsrpt.report.model import Deviation, Report


class Attribution(StrEnum):
    """How a policy result's domain was found (stored with it)."""

    REPORTED = "reported"  # the report's own policy-domain
    HEADER = "report-domain-header"  # TLS-Report-Domain (RFC 8460 §5.3)
    PATH = "receiver-path"  # POST /v1/reports/DOMAIN
    STS = "sts-policy-of-report"  # the policy-domain of the report's sts policy
    MX = "mx-host-of-registered-domain"  # an MX host of one registered domain
    SUBJECT = "subject"  # the Subject's "Report Domain:" (RFC 8460 §5.3)
    FILE_NAME = "file-name"  # RFC 8460 §5.1 file name
    UNKNOWN = "unknown"  # nowhere: filed under ""


# The policy types whose policy-domain may be an MX host rather than the
# recipient domain (RFC 8460 §1.1: the TLSA base domain for DANE; senders
# also name it on no-policy-found results of a DANE lookup).
DANE_TYPES = frozenset({"tlsa", "no-policy-found"})


class Registry(Protocol):
    """What attribution asks about the domains registered with tlsrpt."""

    def is_registered(self, domain: str) -> bool: ...

    def mx_owners(self, host: str) -> Collection[str]:
        """The registered domains whose MX set holds `host`."""
        ...


@dataclass(frozen=True, slots=True)
class StaticRegistry:
    """A `Registry` of plain values (no registry: nothing registered)."""

    registered: Collection[str] = frozenset()
    mx: Mapping[str, Collection[str]] = field(default_factory=dict)

    def is_registered(self, domain: str) -> bool:
        return domain in self.registered

    def mx_owners(self, host: str) -> Collection[str]:
        return self.mx.get(host, ())


NO_REGISTRY = StaticRegistry()


@dataclass(frozen=True, slots=True)
class Context:
    """What is known of a report besides its body: the delivery's domain
    (receiver path, `TLS-Report-Domain`), the weaker hints (Subject, file
    name), and the registry. Values as received: they are folded here."""

    header: str | None = None
    path: str | None = None
    subject: str | None = None
    filename: str | None = None
    registry: Registry = NO_REGISTRY


NO_CONTEXT = Context()


@dataclass(frozen=True, slots=True)
class Attributed:
    """The domain one policy result is filed under ("" when unknown)."""

    domain: str
    attribution: Attribution
    deviation: Deviation | None = None


def _fold(text: str | None) -> str | None:
    return normalize_domain(text) or None if text else None


_SOURCE = {
    Attribution.HEADER: "the TLS-Report-Domain header",
    Attribution.PATH: "the receiver path",
    Attribution.STS: "the sts policy of the report",
    Attribution.MX: "the MX hosts of the registered domain",
    Attribution.SUBJECT: "the Subject",
    Attribution.FILE_NAME: "the file name",
}


def _recipient(context: Context, sts_domains: set[str]) -> tuple[str, Attribution] | None:
    """The recipient domain the delivery or the report's sts policies name."""
    sole_sts = next(iter(sts_domains)) if len(sts_domains) == 1 else None
    for value, how in ((context.path, Attribution.PATH), (context.header, Attribution.HEADER)):
        name = _fold(value)
        if name:
            if sole_sts is not None and name != sole_sts:
                return sole_sts, Attribution.STS  # RFC 8460 §5.6: the body wins
            return name, how
    return (sole_sts, Attribution.STS) if sole_sts is not None else None


def _missing(context: Context, recipient: tuple[str, Attribution] | None, path: str) -> Attributed:
    """A policy without a policy-domain."""
    found = recipient
    if found is None:
        for value, how in (
            (context.subject, Attribution.SUBJECT),
            (context.filename, Attribution.FILE_NAME),
        ):
            name = _fold(value)
            if name:
                found = name, how
                break
    if found is None:
        dev = Deviation("policy-domain-unknown", path, "no policy-domain anywhere", False)
        return Attributed("", Attribution.UNKNOWN, dev)
    name, how = found
    message = f"policy-domain taken from {_SOURCE[how]}"
    return Attributed(name, how, Deviation("policy-domain-inferred", path, message, False))


def _dane_host(
    context: Context, recipient: tuple[str, Attribution] | None, host: str, path: str
) -> Attributed:
    """A tlsa or no-policy-found policy naming `host` (maybe an MX host)."""
    if context.registry.is_registered(host):
        return Attributed(host, Attribution.REPORTED)
    found = recipient
    if found is None:
        owners = set(context.registry.mx_owners(host))
        if len(owners) != 1:  # none, or shared by several: not guessed
            return Attributed(host, Attribution.REPORTED)
        found = owners.pop(), Attribution.MX
    name, how = found
    if name == host:
        return Attributed(host, Attribution.REPORTED)
    message = f"sessions for {host} attributed to {name}, from {_SOURCE[how]}"
    return Attributed(name, how, Deviation("policy-domain-attributed", path, message, False))


def attribute(report: Report, context: Context = NO_CONTEXT) -> list[Attributed]:
    """The domain of each of `report.policies`, in order."""
    sts_domains = {
        name
        for result in report.policies
        if result.policy.policy_type == "sts" and (name := _fold(result.policy.policy_domain))
    }
    recipient = _recipient(context, sts_domains)
    out: list[Attributed] = []
    for i, result in enumerate(report.policies):
        policy = result.policy
        path = f"$.policies[{i}].policy.policy-domain"
        name = _fold(policy.policy_domain)
        if name is None:
            out.append(_missing(context, recipient, path))
        elif policy.policy_type in DANE_TYPES:
            out.append(_dane_host(context, recipient, name, path))
        else:
            out.append(Attributed(name, Attribution.REPORTED))
    return out
