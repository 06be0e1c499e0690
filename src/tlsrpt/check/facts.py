"""What the gathering layer observed about a domain: plain data, no I/O.

`None` means "not gathered" (not applicable, disabled, or the time budget ran
out); the evaluation skips what it was not given.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlsrpt.check.net import Resolution, TlsConnect
from tlsrpt.check.policy_fetch import PolicyFetch
from tlsrpt.check.resolver import DnsAnswer, DnsStatus
from tlsrpt.check.smtp_probe import SmtpProbe


@dataclass(frozen=True, slots=True)
class RuaCheck:
    """Can a rua destination receive reports? Nothing is sent."""

    uri: str
    target: str  # the mailbox domain (mailto:) or the host (https:)
    mx: DnsAnswer | None = None  # mailto: the domain's MX
    addresses: Resolution | None = None  # mailto: A/AAAA when there is no MX
    tls: TlsConnect | None = None  # https: connect + validated TLS handshake


@dataclass(frozen=True, slots=True)
class MxHostFacts:
    """One MX host, observed once per run however many domains use it."""

    host: str
    resolution: Resolution | None
    probes: tuple[SmtpProbe, ...] | None  # None: probing disabled or not reached
    tlsa: DnsAnswer | None  # _25._tcp.<host>
    # RFC 7672 §2.2.3: when `host` is an alias whose CNAME chain validated,
    # the TLSA records at _25._tcp.<expanded name> (they come first).
    tlsa_expanded: DnsAnswer | None = None
    # RFC 7672 §8.1: DANE senders send the TLSA base domain as SNI; when that
    # is not `host`, the probes made that way (a server may choose its
    # certificate by SNI). None: the base domain is `host`, see `probes`.
    dane_probes: tuple[SmtpProbe, ...] | None = None

    def tlsa_base(self) -> tuple[str, DnsAnswer | None]:
        """The TLSA base domain and its TLSA answer (RFC 7672 §2.2.3).

        With a secure CNAME expansion, the expanded name comes first: it is
        the base domain when its TLSA lookup finds secure records — or fails,
        since a failed lookup must not be taken for "no TLSA" (RFC 7672
        §2.1). Otherwise the MX host name itself is.
        """
        tlsa = self.tlsa_expanded
        name = self.resolution.expanded if self.resolution is not None else None
        if name is not None and tlsa is not None:
            found = tlsa.status == DnsStatus.OK and tlsa.secure and bool(tlsa.records)
            if found or tlsa.failed:
                return name, tlsa
        return self.host, self.tlsa


@dataclass(frozen=True, slots=True)
class MxEntry:
    preference: int
    facts: MxHostFacts
    implicit: bool = False  # no MX record: the domain itself (RFC 5321 §5.1)


@dataclass(frozen=True, slots=True)
class DomainFacts:
    domain: str
    tlsrpt: DnsAnswer | None = None
    sts: DnsAnswer | None = None
    mx: DnsAnswer | None = None
    apex: Resolution | None = None  # only looked up when there is no MX record
    policy: PolicyFetch | None = None
    mx_hosts: tuple[MxEntry, ...] | None = None
    rua: tuple[RuaCheck, ...] | None = None
    probe_enabled: bool = True
    timed_out: bool = False
    budget: float = 0.0
    elapsed: float = 0.0
