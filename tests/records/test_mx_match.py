"""RFC 8461 §4.1 MX matching (docs/conformance.md#mx-pattern-matching) and mx pattern syntax
(RFC 8461 §3.2; docs/conformance.md#policy-mx-lines)."""

from __future__ import annotations

import pytest

from tlsrpt.records import match_mx, mx_pattern_error, parse_sts_policy


@pytest.mark.parametrize(
    ("host", "patterns", "covered_by"),
    [
        ("mail.example.com", ["*.example.com"], "*.example.com"),
        ("mail.example.com", ["mail.example.com"], "mail.example.com"),
        ("MAIL.Example.COM", ["mail.example.com"], "mail.example.com"),
        ("mail.example.com", ["*.EXAMPLE.com"], "*.EXAMPLE.com"),
        ("mail.example.com.", ["mail.example.com"], "mail.example.com"),
        ("mail.example.com", ["mail.example.com."], "mail.example.com."),
        ("mail.example.com.", ["*.example.com."], "*.example.com."),
        ("mx2.example.net", ["mail.example.com", "*.example.net"], "*.example.net"),
        ("icewolf-li.h-v1.mx.microsoft", ["*.h-v1.mx.microsoft"], "*.h-v1.mx.microsoft"),
    ],
)
def test_r8461_4_1_a_covered(host, patterns, covered_by):
    match = match_mx(host, patterns)
    assert match.covered
    assert match.pattern == covered_by


@pytest.mark.parametrize(
    ("host", "patterns", "why"),
    [
        ("a.b.example.com", ["*.example.com"], "exactly one label"),
        ("example.com", ["*.example.com"], "exactly one label"),
        ("mail.example.com.attacker.net", ["mail.example.com"], "whole name"),
        ("mail.example.com.attacker.net", ["*.example.com"], "no mx pattern matches"),
        ("x.mail.example.com", ["mail.example.com"], "names only that host"),
        ("icewolf-li.h-v1.mx.microsoft", ["*.mx.microsoft"], "exactly one label"),
        ("evilexample.com", ["*.example.com"], "no mx pattern matches"),
        ("mail.example.com", [], "no mx patterns"),
        ("mail.example.com", ["mail.*.com"], "not valid"),
        ("*.example.com", ["*.example.com"], "not a host name"),
        ("", ["*.example.com"], "not a host name"),
        ("a..example.com", ["*.example.com"], "not a host name"),
    ],
)
def test_r8461_4_1_a_not_covered_with_the_reason(host, patterns, why):
    match = match_mx(host, patterns)
    assert not match.covered
    assert why in match.reason


def test_first_covering_pattern_wins_over_earlier_near_miss():
    match = match_mx("a.b.example.com", ["*.example.com", "*.b.example.com"])
    assert match.covered
    assert match.pattern == "*.b.example.com"


def test_policy_covers_uses_the_policy_patterns():
    policy = parse_sts_policy("version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n")
    assert policy.value is not None
    assert policy.value.covers("mx1.example.com").covered
    assert not policy.value.covers("example.com").covered


@pytest.mark.parametrize(
    "pattern",
    ["mail.example.com", "*.example.net", "a", "xn--mnchen-3ya.de", "1.2.3.4", "a-b.c", "A.B"],
)
def test_r8461_3_2_g_valid_patterns(pattern):
    assert mx_pattern_error(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("*example.com", "leftmost"),
        ("a.*.example.com", "leftmost"),
        ("*", "leftmost"),
        ("*.", "domain after"),
        ("*.*.example.com", "leftmost"),
        ("", "empty name"),
        ("mail.example.com.", "trailing dot"),
        ("münchen.de", "A-labels"),
        ("-a.example.com", "inner hyphens"),
        ("a-.example.com", "inner hyphens"),
        ("a_b.example.com", "inner hyphens"),
        ("a..b", "empty label"),
        ("a" * 64 + ".com", "longer than 63"),
        (".".join(["a" * 63] * 4 + ["b"]), "longer than 253"),
        ("a.test, b.test", "inner hyphens"),
    ],
)
def test_r8461_3_2_g_invalid_patterns(pattern, why):
    error = mx_pattern_error(pattern)
    assert error is not None
    assert why in error
