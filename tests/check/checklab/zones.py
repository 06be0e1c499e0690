"""What a lab domain looks like, and how it becomes DNS zones.

A `DomainSpec` describes one scenario domain (its TXT records, policy
server behaviour, MX hosts with their certificates and TLSA records); the
`ZoneSet` turns specs into dnspython zones, signed with DNSSEC where asked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.zone
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from checklab.https_server import HttpAnswer
from checklab.pki import CertKind, LabPki

IN = dns.rdataclass.IN
TTL = 60


class Addr:
    """Lab addresses: every server the lab runs, and where nothing listens."""

    DNS = "127.77.0.1"
    RESOLVER = "127.77.0.2"
    HTTPS = "127.77.0.10"
    HTTPS_CLOSED = "127.77.0.11"
    SMTP = "127.77.0.20"
    SMTP_PLAIN = "127.77.0.21"
    SMTP_OLD_TLS = "127.77.0.22"
    SMTP_CLOSED = "127.77.0.23"
    SMTP_V6 = "::1"


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    source: str = "leaf"  # "leaf", "intermediate" (2nd cert of the chain) or "garbage"

    def rdata_text(self, chain: list[bytes]) -> str:
        if self.source == "garbage":
            content = b"not the certificate"
        else:
            der = chain[0] if self.source == "leaf" else chain[1]
            cert = x509.load_der_x509_certificate(der)
            content = (
                der
                if self.selector == 0
                else cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            )
        if self.mtype == 1:
            content = hashlib.sha256(content).digest()
        elif self.mtype == 2:
            content = hashlib.sha512(content).digest()
        return f"{self.usage} {self.selector} {self.mtype} {content.hex()}"


@dataclass
class MxSpec:
    host: str
    preference: int = 10
    server: str = "starttls"  # starttls | plain | old-tls | closed | none | custom
    cert: CertKind = CertKind.VALID
    ipv6: bool = False
    addresses: tuple[str, ...] = ()  # for server="custom"
    tlsa: tuple[Tlsa, ...] = ()
    tlsa_bogus: bool = False  # change the TLSA data after signing
    # `host` is a CNAME to `alias_of`, which gets the addresses and `tlsa`;
    # `alias_tlsa` go to _25._tcp.<host> itself (RFC 7672 §2.2.3 scenarios).
    alias_of: str | None = None
    alias_tlsa: tuple[Tlsa, ...] = ()
    cert_name: str | None = None  # the name in the certificate, if not `host`


@dataclass
class PolicySpec:
    answer: HttpAnswer | None = None  # None: the standard policy for the domain's MX
    cert: CertKind = CertKind.VALID
    address: str = Addr.HTTPS
    mode: str = "enforce"
    patterns: tuple[str, ...] | None = None  # mx lines; None: the MX host names


@dataclass
class DomainSpec:
    domain: str
    tlsrpt: tuple[str | tuple[str, ...], ...] | None = None  # None: default record
    sts: tuple[str, ...] | None = None  # None: default record (if policy is set)
    policy: PolicySpec | None = field(default_factory=PolicySpec)
    mx: tuple[MxSpec, ...] | None = None  # None: one MX, "mx.<domain>", valid
    null_mx: bool = False
    apex_addresses: tuple[str, ...] = ()
    signed: bool = False
    no_tlsrpt: bool = False
    no_sts: bool = False
    extra: tuple[tuple[str, str, str], ...] = ()  # (name, type, rdata text)

    def mx_hosts(self) -> tuple[MxSpec, ...]:
        if self.null_mx:
            return ()
        return self.mx if self.mx is not None else (MxSpec(f"mx.{self.domain}"),)

    def tlsrpt_values(self) -> tuple[str | tuple[str, ...], ...]:
        if self.no_tlsrpt:
            return ()
        return (
            self.tlsrpt
            if self.tlsrpt is not None
            else (f"v=TLSRPTv1; rua=mailto:tlsrpt@{self.domain}",)
        )

    def sts_values(self) -> tuple[str, ...]:
        if self.no_sts or (self.policy is None and self.sts is None):
            return ()
        return self.sts if self.sts is not None else ("v=STSv1; id=20240501T000000",)

    def policy_answer(self) -> HttpAnswer | None:
        if self.policy is None:
            return None
        if self.policy.answer is not None:
            return self.policy.answer
        patterns = self.policy.patterns
        if patterns is None:
            patterns = tuple(mx.host for mx in self.mx_hosts())
        lines = ["version: STSv1", f"mode: {self.policy.mode}"]
        lines += [f"mx: {p}" for p in patterns]
        lines.append("max_age: 604800")
        return HttpAnswer(body=("\r\n".join(lines) + "\r\n").encode())


SERVER_ADDRESSES = {
    "starttls": (Addr.SMTP,),
    "plain": (Addr.SMTP_PLAIN,),
    "old-tls": (Addr.SMTP_OLD_TLS,),
    "closed": (Addr.SMTP_CLOSED,),
    "none": (),
}


def txt_rdata(value: str | tuple[str, ...]) -> dns.rdtypes.ANY.TXT.TXT:
    strings = (value,) if isinstance(value, str) else value
    chunks: list[bytes] = []
    for s in strings:
        data = s.encode()
        chunks += [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return dns.rdtypes.ANY.TXT.TXT(IN, dns.rdatatype.TXT, chunks)


class ZoneSet:
    """All lab zones; records go to the zone with the longest matching origin."""

    def __init__(self) -> None:
        self.zones: dict[dns.name.Name, dns.zone.Zone] = {}
        self.signed: set[dns.name.Name] = set()
        self.bogus: list[tuple[dns.name.Name, str, str]] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.dnskey = dns.dnssec.make_dnskey(
            self._key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257
        )

    def add_zone(self, origin: str, signed: bool = False) -> None:
        name = dns.name.from_text(origin)
        if name in self.zones:
            return
        zone = dns.zone.Zone(name, relativize=False)
        with zone.writer() as txn:
            txn.add(
                name,
                TTL,
                dns.rdata.from_text(
                    IN,
                    dns.rdatatype.SOA,
                    f"ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 {TTL}",
                ),
            )
            txn.add(name, TTL, dns.rdata.from_text(IN, dns.rdatatype.NS, "ns.lab.test."))
        self.zones[name] = zone
        if signed:
            self.signed.add(name)

    def zone_for(self, name: dns.name.Name) -> dns.zone.Zone:
        candidate = name
        while candidate not in self.zones:
            if candidate == dns.name.root:
                raise KeyError(f"no lab zone holds {name}")
            candidate = candidate.parent()
        return self.zones[candidate]

    def add(self, owner: str, rdtype: str, rdata: str | dns.rdata.Rdata) -> None:
        name = dns.name.from_text(owner)
        if isinstance(rdata, str):
            rdata = dns.rdata.from_text(IN, dns.rdatatype.from_text(rdtype), rdata)
        with self.zone_for(name).writer() as txn:
            txn.add(name, TTL, rdata)

    def add_addresses(self, host: str, addresses: tuple[str, ...]) -> None:
        for ip in addresses:
            self.add(host, "AAAA" if ":" in ip else "A", ip)

    def add_domain(self, spec: DomainSpec, pki: LabPki, smtp_certs: dict[str, CertKind]) -> None:
        d = spec.domain
        self.add_zone(d, spec.signed)
        for value in spec.tlsrpt_values():
            self.add(f"_smtp._tls.{d}", "TXT", txt_rdata(value))
        for value in spec.sts_values():
            self.add(f"_mta-sts.{d}", "TXT", txt_rdata(value))
        if spec.policy is not None:
            self.add_addresses(f"mta-sts.{d}", (spec.policy.address,))
        self.add_addresses(d, spec.apex_addresses)
        if spec.apex_addresses and not spec.mx_hosts():
            smtp_certs[d] = CertKind.VALID  # the implicit MX (RFC 5321 §5.1)
        if spec.null_mx:
            self.add(d, "MX", "0 .")
        for mx in spec.mx_hosts():
            self.add(d, "MX", f"{mx.preference} {mx.host}.")
            if mx.host.endswith("." + d):  # hosts elsewhere are added by their owner
                self.add_mx_host(mx, pki, smtp_certs)
        for owner, rdtype, text in spec.extra:
            self.add(owner, rdtype, text)

    def add_mx_host(self, mx: MxSpec, pki: LabPki, smtp_certs: dict[str, CertKind]) -> None:
        addresses = mx.addresses if mx.server == "custom" else SERVER_ADDRESSES[mx.server]
        if mx.ipv6 and mx.server == "starttls":
            addresses = (*addresses, Addr.SMTP_V6)
        target = mx.alias_of or mx.host
        if mx.alias_of:
            self.add(mx.host, "CNAME", f"{mx.alias_of}.")
        self.add_addresses(target, addresses)
        # Chosen by SNI: the MX host name, or for an alias also its target (the
        # name DANE senders send, RFC 7672 §8.1), which by default gets a
        # certificate of its own, as a server with one per name would.
        for name in {mx.host, target}:
            smtp_certs[name] = mx.cert
            if mx.cert_name:
                pki.issued_for[name] = mx.cert_name
        if mx.cert == CertKind.HANDSHAKE_FAILURE:
            return
        for tlsa in mx.tlsa:
            self.add(f"_25._tcp.{target}", "TLSA", tlsa.rdata_text(pki.chain_der(target, mx.cert)))
        for tlsa in mx.alias_tlsa:
            chain = pki.chain_der(mx.host, mx.cert)
            self.add(f"_25._tcp.{mx.host}", "TLSA", tlsa.rdata_text(chain))
        if mx.tlsa_bogus:
            self.tamper(f"_25._tcp.{target}", "TLSA", "3 1 1 " + "00" * 32)

    def tamper(self, owner: str, rdtype: str, text: str) -> None:
        """After signing, replace the RRset: its RRSIG no longer validates (bogus)."""
        self.bogus.append((dns.name.from_text(owner), rdtype, text))

    def sign(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for origin in self.signed:
            zone = self.zones[origin]
            dns.dnssec.sign_zone(
                zone,
                keys=[(self._key, self.dnskey)],
                inception=now - dt.timedelta(hours=1),
                expiration=now + dt.timedelta(days=30),
            )
        for owner, rdtype, text in self.bogus:  # data no longer matches its RRSIG
            kind = dns.rdatatype.from_text(rdtype)
            with self.zone_for(owner).writer() as txn:
                txn.delete(owner, kind)
                txn.add(owner, TTL, dns.rdata.from_text(IN, kind, text))

    def trust_anchors(self) -> list[str]:
        return [f"{origin.to_text()} DNSKEY {self.dnskey.to_text()}" for origin in self.signed]
