"""Which addresses the checker may connect to (SSRF guard).

The checker may run as a public service: a user-supplied domain must not make
it connect to the operator's own network. Every connection (policy fetch,
rua probe, MX probe) resolves the name first, vets each address with
`refusal_reason`, and then connects to the vetted address itself, so a DNS
answer that changes between the check and the connection (rebinding) cannot
slip a private address through.

The rule is the IANA IPv4 and IPv6 Special-Purpose Address Registries
(RFC 6890 and the RFCs that added rows since), encoded below with their
"Globally Reachable" column, plus the IPv6 address space outside 2000::/3,
the only block allocated as global unicast (RFC 4291 §2.4), plus multicast.
An address is refused when the most specific block holding it is not
globally reachable. The registry's globally reachable rows are anycast
services answered by the nearest instance (which can sit inside the
operator's network) or overlay identifiers that are not locators: none of
them is a mail or web host, so they are refused too, with that reason. IPv6 addresses
that carry an IPv4 destination (mapped, NAT64, 6to4, Teredo) are judged by
that IPv4 address.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import TypeAlias

from tlsrpt.domains import ip_literal as ip_literal  # where it lived; the checker's own name for it

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SpecialBlock:
    """One row of a special-purpose registry (or of the IPv6 address space)."""

    network: IPNetwork
    name: str
    rfc: str
    # The registry's "Globally Reachable" column; None where it says N/A or,
    # for a terminated (deprecated) allocation, nothing.
    globally_reachable: bool | None = False
    # Globally reachable, but not a host: an anycast service or an identifier.
    not_a_host: str | None = None

    def describe(self) -> str:
        return f"{self.network} {self.name} ({self.rfc})"


_ANYCAST = (
    "an anycast service address, answered by the nearest instance, which may be inside this network"
)
_IDENTIFIER = "an overlay identifier, not a locator (RFC 7343 §2)"


def _block(
    cidr: str,
    name: str,
    rfc: str,
    reachable: bool | None = False,
    not_a_host: str | None = None,
) -> SpecialBlock:
    return SpecialBlock(ipaddress.ip_network(cidr), name, rfc, reachable, not_a_host)


# IANA IPv4 Special-Purpose Address Registry (RFC 6890 §2.2.2 and updates).
IPV4_SPECIAL: tuple[SpecialBlock, ...] = (
    _block("0.0.0.0/8", '"this network"', "RFC 791 §3.2"),
    _block("0.0.0.0/32", '"this host on this network"', "RFC 1122 §3.2.1.3"),
    _block("10.0.0.0/8", "private-use", "RFC 1918"),
    _block("100.64.0.0/10", "shared address space", "RFC 6598"),
    _block("127.0.0.0/8", "loopback", "RFC 1122 §3.2.1.3"),
    _block("169.254.0.0/16", "link-local", "RFC 3927"),
    _block("172.16.0.0/12", "private-use", "RFC 1918"),
    _block("192.0.0.0/24", "IETF protocol assignments", "RFC 6890 §2.1"),
    _block("192.0.0.0/29", "IPv4 service continuity prefix", "RFC 7335"),
    _block("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    _block("192.0.0.9/32", "Port Control Protocol anycast", "RFC 7723", True, _ANYCAST),
    _block("192.0.0.10/32", "TURN anycast", "RFC 8155", True, _ANYCAST),
    _block("192.0.0.170/32", "NAT64/DNS64 discovery", "RFC 8880, RFC 7050 §2.2"),
    _block("192.0.0.171/32", "NAT64/DNS64 discovery", "RFC 8880, RFC 7050 §2.2"),
    _block("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    _block("192.31.196.0/24", "AS112-v4", "RFC 7535", True, _ANYCAST),
    _block("192.52.193.0/24", "AMT relay anycast", "RFC 7450", True, _ANYCAST),
    _block("192.88.99.0/24", "deprecated 6to4 relay anycast", "RFC 7526", None),
    _block("192.88.99.2/32", "6a44 relay anycast", "RFC 6751"),
    _block("192.168.0.0/16", "private-use", "RFC 1918"),
    _block("192.175.48.0/24", "direct delegation AS112 service", "RFC 7534", True, _ANYCAST),
    _block("198.18.0.0/15", "benchmarking", "RFC 2544"),
    _block("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    _block("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    _block("240.0.0.0/4", "reserved", "RFC 1112 §4"),
    _block("255.255.255.255/32", "limited broadcast", "RFC 8190, RFC 919 §7"),
    # Not in the special-purpose registry: the IPv4 multicast space (RFC 5771 §3).
    _block("224.0.0.0/4", "multicast", "RFC 5771"),
)

_IETF_RESERVED = "reserved by the IETF, outside 2000::/3 global unicast"

# IANA IPv6 Special-Purpose Address Registry (RFC 6890 §2.2.3 and updates).
# 64:ff9b::/96 (RFC 6052), ::ffff:0:0/96 (RFC 4291 §2.5.5.2), 2001::/32
# Teredo (RFC 4380) and 2002::/16 6to4 (RFC 3056) carry an IPv4 destination
# and are judged by it before this table is consulted.
IPV6_SPECIAL: tuple[SpecialBlock, ...] = (
    _block("::1/128", "loopback", "RFC 4291 §2.5.3"),
    _block("::/128", "unspecified", "RFC 4291 §2.5.2"),
    _block("64:ff9b:1::/48", "local-use IPv4/IPv6 translation", "RFC 8215"),
    _block("100::/64", "discard-only", "RFC 6666"),
    _block("100:0:0:1::/64", "dummy IPv6 prefix", "RFC 9780"),
    _block("2001::/23", "IETF protocol assignments", "RFC 2928"),
    _block("2001:1::1/128", "Port Control Protocol anycast", "RFC 7723", True, _ANYCAST),
    _block("2001:1::2/128", "TURN anycast", "RFC 8155", True, _ANYCAST),
    _block("2001:1::3/128", "DNS-SD service registration anycast", "RFC 9665", True, _ANYCAST),
    _block("2001:2::/48", "benchmarking", "RFC 5180"),
    _block("2001:3::/32", "AMT relay anycast", "RFC 7450", True, _ANYCAST),
    _block("2001:4:112::/48", "AS112-v6", "RFC 7535", True, _ANYCAST),
    _block("2001:10::/28", "deprecated ORCHID", "RFC 4843", None),
    _block("2001:20::/28", "ORCHIDv2", "RFC 7343", True, _IDENTIFIER),
    _block("2001:30::/28", "drone remote ID entity tags", "RFC 9374", True, _IDENTIFIER),
    _block("2001:db8::/32", "documentation", "RFC 3849"),
    _block("2620:4f:8000::/48", "direct delegation AS112 service", "RFC 7534", True, _ANYCAST),
    _block("3fff::/20", "documentation", "RFC 9637"),
    _block("5f00::/16", "segment routing (SRv6) SIDs", "RFC 9602"),
    _block("fc00::/7", "unique-local", "RFC 4193"),
    _block("fe80::/10", "link-local", "RFC 4291 §2.5.6"),
    # The IPv6 address space registry: everything but 2000::/3 (RFC 4291 §2.4).
    _block("fec0::/10", "site-local", "RFC 3879"),
    _block("ff00::/8", "multicast", "RFC 4291 §2.7"),
    _block("::/8", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("100::/8", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("200::/7", _IETF_RESERVED, "RFC 4048"),
    _block("400::/6", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("800::/5", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("1000::/4", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("4000::/3", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("6000::/3", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("8000::/3", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("a000::/3", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("c000::/3", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("e000::/4", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("f000::/5", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("f800::/6", _IETF_RESERVED, "RFC 4291 §2.4"),
    _block("fe00::/9", _IETF_RESERVED, "RFC 4291 §2.4"),
)

# Instance-metadata endpoints of cloud providers. All lie in refused blocks
# already; they are named so that the finding says what the address is.
CLOUD_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC resolver
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",  # AWS VPC resolver over IPv6
    )
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 §2.1, globally reachable


def _by_specificity(blocks: tuple[SpecialBlock, ...]) -> tuple[tuple[int, int, SpecialBlock], ...]:
    """(prefix length, network as an integer, block), most specific first."""
    ordered = sorted(blocks, key=lambda b: -b.network.prefixlen)
    return tuple((b.network.prefixlen, int(b.network.network_address), b) for b in ordered)


_LOOKUP = {4: (_by_specificity(IPV4_SPECIAL), 32), 6: (_by_specificity(IPV6_SPECIAL), 128)}


def special_block(ip: IPAddress) -> SpecialBlock | None:
    """The most specific registry block holding `ip`, or None (global unicast)."""
    table, bits = _LOOKUP[ip.version]
    value = int(ip)
    for prefixlen, network, block in table:
        shift = bits - prefixlen
        if value >> shift == network >> shift:
            return block
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 destination an IPv6 address carries (mapped, 6to4, NAT64, Teredo)."""
    if ip.ipv4_mapped is not None:  # RFC 4291 §2.5.5.2
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # RFC 3056 §2
        return ip.sixtofour
    if ip in _NAT64:  # RFC 6052 §2.2
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:  # RFC 4380 §4: the client's (mapped) address
        return ip.teredo[1]
    return None


def _category(ip: IPAddress) -> str | None:
    block = special_block(ip)
    if ip in CLOUD_METADATA_ADDRESSES:
        where = f", in {block.describe()}" if block else ""
        return f"a cloud metadata address{where}"
    if block is None:
        return None
    if block.globally_reachable:
        if block.not_a_host is None:
            return None  # a globally reachable destination
        return f"in {block.describe()}: {block.not_a_host}"
    return f"in {block.describe()}"


@functools.lru_cache(maxsize=4096)
def refusal_reason(address: str | IPAddress) -> str | None:
    """Why the checker must not connect to `address`, or None when it may.

    The reason names the registry block, e.g. "fec0::1 is in fec0::/10
    site-local (RFC 3879)".
    """
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return f"{ip} is a scoped (link-local) address"
        inner = _embedded_ipv4(ip)
        if inner is not None:
            # The packets go to the embedded IPv4 address: judge that one.
            inner_reason = _category(inner)
            return f"{ip} embeds {inner}, which is {inner_reason}" if inner_reason else None
    category = _category(ip)
    return f"{ip} is {category}" if category else None


class AddressPolicy:
    """The connection policy of one run: strict by default, lifted for labs."""

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private

    def refusal(self, address: str) -> str | None:
        if self.allow_private:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return f"{address!r} is not an IP address"
            return None
        reason = refusal_reason(address)
        if reason is None:
            return None
        return f"{reason}; refused (use --allow-private-addresses to allow)"
