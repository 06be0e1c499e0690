"""The address guard (SSRF protection) of the checker."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.check.safety import AddressPolicy, refusal_reason


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.77.0.20", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "non-global"),
        ("169.254.169.254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("192.0.0.192", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("::ffff:127.0.0.1", "embeds 127.0.0.1"),
        ("::ffff:10.0.0.1", "embeds 10.0.0.1"),
        ("64:ff9b::a00:1", "embeds 10.0.0.1"),
        ("2002:7f00:1::1", "embeds 127.0.0.1"),
        ("2001:db8::1", "documentation"),
        ("not-an-ip", "not an IP address"),
    ],
)
def test_refused_addresses(address: str, expected: str) -> None:
    reason = refusal_reason(address)
    assert reason is not None
    assert expected in reason or (expected == "documentation" and "private" in reason)


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808"])
def test_public_addresses_allowed(address: str) -> None:
    assert refusal_reason(address) is None


def test_policy_lifts_refusal_only_when_asked() -> None:
    strict, lab = AddressPolicy(False), AddressPolicy(True)
    reason = strict.refusal("127.0.0.1")
    assert reason is not None and "--allow-private-addresses" in reason
    assert lab.refusal("127.0.0.1") is None
    assert lab.refusal("mx.example") is not None  # still only IP addresses


@given(st.ip_addresses())
def test_refusal_matches_python_classification(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    """Non-global addresses are refused unless they carry a public IPv4 address
    (mapped, NAT64, ...); global ones only when reserved, metadata endpoints or
    wrappers of a refused IPv4 address."""
    reason = refusal_reason(ip)
    inner = None
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
    if reason is None:
        assert ip.is_global or (inner is not None and refusal_reason(inner) is None)
    elif ip.is_global:
        assert any(word in reason for word in ("metadata", "embeds", "reserved", "multicast"))
