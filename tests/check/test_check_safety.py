"""The address guard (SSRF protection) of the checker: the IANA special-purpose
registries, the IPv6 space outside 2000::/3, multicast, and IPv4 wrapped in
IPv6."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.check.safety import (
    IPV4_SPECIAL,
    IPV6_SPECIAL,
    AddressPolicy,
    ip_literal,
    refusal_reason,
    special_block,
)

# Every refused block, written out here independently of the code's table:
# (block, what the refusal names). The IANA IPv4 and IPv6 Special-Purpose
# Address Registries, the IPv6 address space registry outside 2000::/3, and
# multicast.
RANGES: list[tuple[str, str]] = [
    # IPv4 special-purpose registry
    ("0.0.0.0/8", '"this network" (RFC 791 §3.2)'),
    ("0.0.0.0/32", '"this host on this network"'),
    ("10.0.0.0/8", "private-use (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122 §3.2.1.3)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("172.16.0.0/12", "private-use (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890 §2.1)"),
    ("192.0.0.0/29", "IPv4 service continuity prefix (RFC 7335)"),
    ("192.0.0.8/32", "IPv4 dummy address (RFC 7600)"),
    ("192.0.0.9/32", "Port Control Protocol anycast (RFC 7723): an anycast service"),
    ("192.0.0.10/32", "TURN anycast (RFC 8155): an anycast service"),
    ("192.0.0.170/32", "NAT64/DNS64 discovery"),
    ("192.0.0.171/32", "NAT64/DNS64 discovery"),
    ("192.0.2.0/24", "documentation (TEST-NET-1) (RFC 5737)"),
    ("192.31.196.0/24", "AS112-v4 (RFC 7535): an anycast service"),
    ("192.52.193.0/24", "AMT relay anycast (RFC 7450): an anycast service"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    ("192.88.99.2/32", "6a44 relay anycast (RFC 6751)"),
    ("192.168.0.0/16", "private-use (RFC 1918)"),
    ("192.175.48.0/24", "direct delegation AS112 service (RFC 7534): an anycast service"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation (TEST-NET-2) (RFC 5737)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3) (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved (RFC 1112 §4)"),
    ("255.255.255.255/32", "limited broadcast"),
    # IPv6 special-purpose registry
    ("::1/128", "loopback (RFC 4291 §2.5.3)"),
    ("::/128", "unspecified (RFC 4291 §2.5.2)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"),
    ("2001::/23", "IETF protocol assignments (RFC 2928)"),
    ("2001:1::1/128", "Port Control Protocol anycast (RFC 7723): an anycast service"),
    ("2001:1::2/128", "TURN anycast (RFC 8155): an anycast service"),
    ("2001:1::3/128", "DNS-SD service registration anycast (RFC 9665): an anycast service"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:3::/32", "AMT relay anycast (RFC 7450): an anycast service"),
    ("2001:4:112::/48", "AS112-v6 (RFC 7535): an anycast service"),
    ("2001:10::/28", "deprecated ORCHID (RFC 4843)"),
    ("2001:20::/28", "ORCHIDv2 (RFC 7343): an overlay identifier"),
    ("2001:30::/28", "drone remote ID entity tags (RFC 9374): an overlay identifier"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534): an anycast service"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "segment routing (SRv6) SIDs (RFC 9602)"),
    ("fc00::/7", "unique-local (RFC 4193)"),
    ("fe80::/10", "link-local (RFC 4291 §2.5.6)"),
    # IPv6 address space: only 2000::/3 is global unicast
    ("fec0::/10", "site-local (RFC 3879)"),
    ("ff00::/8", "multicast (RFC 4291 §2.7)"),
    ("::/8", "reserved by the IETF, outside 2000::/3 global unicast"),
    ("100::/8", "reserved by the IETF"),
    ("200::/7", "reserved by the IETF"),
    ("400::/6", "reserved by the IETF"),
    ("800::/5", "reserved by the IETF"),
    ("1000::/4", "reserved by the IETF"),
    ("4000::/3", "reserved by the IETF"),
    ("6000::/3", "reserved by the IETF"),
    ("8000::/3", "reserved by the IETF"),
    ("a000::/3", "reserved by the IETF"),
    ("c000::/3", "reserved by the IETF"),
    ("e000::/4", "reserved by the IETF"),
    ("f000::/5", "reserved by the IETF"),
    ("f800::/6", "reserved by the IETF"),
    ("fe00::/9", "reserved by the IETF"),
]

# Blocks whose addresses carry an IPv4 destination and are judged by it.
CARRIERS = [
    ipaddress.ip_network(n) for n in ("::ffff:0:0/96", "64:ff9b::/96", "2002::/16", "2001::/32")
]
NETWORKS = [ipaddress.ip_network(cidr) for cidr, _ in RANGES]


def _most_specific(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    holding = [n for n in NETWORKS if n.version == ip.version and ip in n]
    return str(max(holding, key=lambda n: n.prefixlen)) if holding else None


def _neighbours(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses just below and just above the block, where they exist."""
    found = []
    if int(network.network_address) > 0:
        found.append(network.network_address - 1)
    if int(network.broadcast_address) < 2**network.max_prefixlen - 1:
        found.append(network.broadcast_address + 1)
    return found


def _carried(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(ip.version == n.version and ip in n for n in CARRIERS)


def test_the_table_is_the_registries() -> None:
    """The code's table holds exactly the blocks written out above."""
    assert {str(b.network) for b in (*IPV4_SPECIAL, *IPV6_SPECIAL)} == {c for c, _ in RANGES}


def test_globally_reachable_rows_say_why_they_are_refused() -> None:
    """Rows the registry marks globally reachable are anycast services or
    identifiers: refused, but with that reason, not as 'not global'."""
    for block in (*IPV4_SPECIAL, *IPV6_SPECIAL):
        if block.globally_reachable:
            assert block.not_a_host, block


@pytest.mark.parametrize(("cidr", "name"), RANGES, ids=[c for c, _ in RANGES])
def test_block_edges(cidr: str, name: str) -> None:
    """First and last address refused (naming the block unless a more specific
    one holds them); the neighbours just outside are allowed unless another
    listed block (or an embedded IPv4 address) holds them."""
    network = ipaddress.ip_network(cidr)
    for edge in (network.network_address, network.broadcast_address):
        reason = refusal_reason(str(edge))
        assert reason is not None, edge
        if _most_specific(edge) == cidr and not _carried(edge):
            assert f"{edge} is in {cidr} {name}" in reason
    for outside in _neighbours(network):
        reason = refusal_reason(str(outside))
        owner = _most_specific(outside)
        if _carried(outside):
            continue  # judged by the embedded IPv4 address (tests below)
        if owner is None:
            assert reason is None, (outside, reason)
        else:
            assert reason is not None and f" {owner} " in reason and f" {cidr} " not in reason


def test_edge_test_is_not_vacuous() -> None:
    """Many blocks border global space, so the edge test checks allowed neighbours."""
    allowed = {
        cidr
        for cidr, _ in RANGES
        for outside in _neighbours(ipaddress.ip_network(cidr))
        if refusal_reason(str(outside)) is None
    }
    assert len(allowed) >= 20, sorted(allowed)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("fec0::1", "fec0::1 is in fec0::/10 site-local (RFC 3879)"),
        ("169.254.169.254", "cloud metadata address, in 169.254.0.0/16 link-local"),
        ("100.100.100.200", "cloud metadata address, in 100.64.0.0/10 shared address space"),
        ("192.0.0.192", "cloud metadata address, in 192.0.0.0/24"),
        ("fd00:ec2::254", "cloud metadata address, in fc00::/7 unique-local"),
        ("::ffff:127.0.0.1", "embeds 127.0.0.1, which is in 127.0.0.0/8 loopback"),
        ("::ffff:10.0.0.1", "embeds 10.0.0.1, which is in 10.0.0.0/8 private-use"),
        ("64:ff9b::a00:1", "embeds 10.0.0.1, which is in 10.0.0.0/8"),
        ("64:ff9b::a9fe:a9fe", "embeds 169.254.169.254, which is a cloud metadata address"),
        ("2002:7f00:1::1", "embeds 127.0.0.1, which is in 127.0.0.0/8 loopback"),
        ("2002:a00:1::1", "embeds 10.0.0.1"),
        # Teredo (RFC 4380 §4): the client address is stored inverted.
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "embeds 192.0.2.45, which is in 192.0.2.0/24"),
        ("fe80::1%eth0", "scoped (link-local)"),
        ("not-an-ip", "not an IP address"),
    ],
)
def test_refused_addresses(address: str, expected: str) -> None:
    reason = refusal_reason(address)
    assert reason is not None and expected in reason, reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "2001:4860:4860::8888",
        "2a00:1450:4001::1",
        "2001:200::1",  # just past 2001::/23
        "3fff:1000::1",  # just past the 3fff::/20 documentation block
        "::ffff:8.8.8.8",  # mapped, public IPv4 inside
        "64:ff9b::808:808",  # NAT64 of a public address
        "2002:808:808::1",  # 6to4 of a public address
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, client 8.8.8.8
    ],
)
def test_public_addresses_allowed(address: str) -> None:
    assert refusal_reason(address) is None


def test_policy_lifts_refusal_only_when_asked() -> None:
    strict, lab = AddressPolicy(False), AddressPolicy(True)
    reason = strict.refusal("127.0.0.1")
    assert reason is not None and "--allow-private-addresses" in reason
    assert "127.0.0.0/8 loopback" in reason
    assert strict.refusal("fec0::1") is not None
    assert lab.refusal("127.0.0.1") is None
    assert lab.refusal("fec0::1") is None  # the opt-in lifts every block
    assert lab.refusal("mx.example") is not None  # still only IP addresses


@pytest.mark.parametrize(
    ("host", "literal"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("10.0.0.1.", "10.0.0.1"),
        ("fec0::1", "fec0::1"),
        ("[fec0::1]", "fec0::1"),
        ("[IPv6:fec0::1]", "fec0::1"),
        ("[FEC0:0::1]", "fec0::1"),
        ("mx.example.com", None),
        ("10.0.0.1.example", None),
        ("[mx.example.com]", None),
        ("", None),
    ],
)
def test_ip_literal(host: str, literal: str | None) -> None:
    assert ip_literal(host) == literal


def _expected_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool | None:
    """The rule, from the list above: None when an embedded IPv4 address decides."""
    if _carried(ip):
        return None
    return _most_specific(ip) is not None


@given(st.ip_addresses())
def test_refusal_follows_the_list(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    expected = _expected_refused(ip)
    reason = refusal_reason(ip)
    if expected is not None:
        assert (reason is not None) == expected, (ip, reason)
        if reason is not None:
            assert _most_specific(ip) in reason or "cloud metadata" in reason
    assert special_block(ip) is None or reason is not None or _carried(ip)


@given(st.ip_addresses())
def test_at_least_as_strict_as_python(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Nothing Python's own tables call non-global is allowed, except IPv6
    addresses carrying a public IPv4 address."""
    if refusal_reason(ip) is None:
        assert ip.is_global or _carried(ip)
