"""Which addresses the checker may connect to (SSRF guard).

The checker may run as a public service: a user-supplied domain must not make
it connect to the operator's own network. Every connection (policy fetch,
rua probe, MX probe) resolves the name first, vets each address with
`refusal_reason`, and then connects to the vetted address itself, so a DNS
answer that changes between the check and the connection (rebinding) cannot
slip a private address through.
"""

from __future__ import annotations

import ipaddress
from typing import TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance-metadata endpoints of cloud providers. Most are already non-global
# (link-local or ULA); the ones that Python classifies as global are the
# reason this list exists (Oracle Cloud 192.0.0.192, Alibaba 100.100.100.200).
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

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _category(ip: IPAddress) -> str | None:
    if ip in CLOUD_METADATA_ADDRESSES:
        return "a cloud metadata address"
    for attribute, label in (
        ("is_loopback", "a loopback address"),
        ("is_unspecified", "the unspecified address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if getattr(ip, attribute):
            return label
    if not ip.is_global:
        return "a non-global (special-purpose) address"
    return None


def refusal_reason(address: str | IPAddress) -> str | None:
    """Why the checker must not connect to `address`, or None when it may.

    Refuses private, loopback, link-local, multicast, reserved, unspecified,
    other non-global and cloud-metadata addresses, including IPv4 addresses
    wrapped in IPv6 (mapped, 6to4, NAT64, Teredo).
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
            return f"{ip} embeds {inner}, {inner_reason}" if inner_reason else None
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
