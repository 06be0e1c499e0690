"""MX patterns of an MTA-STS policy: syntax (RFC 8461 §3.2) and matching
(RFC 8461 §4.1)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tlsrpt.domains import normalize_domain

# RFC 5321 §4.1.2: Domain = sub-domain *("." sub-domain);
# sub-domain = Let-dig [Ldh-str]; with the DNS limits of 63 and 253 octets.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}\Z")


def mx_pattern_error(pattern: str) -> str | None:
    """Why `pattern` is not `["*."] Domain` (RFC 8461 §3.2), or None when it
    is. A trailing dot is an error here; callers decide whether to strip it."""
    wildcard = pattern.startswith("*.")
    domain = pattern[2:] if wildcard else pattern
    if "*" in domain:
        return "'*' is only allowed as the whole leftmost label, as in '*.example.com'"
    if not domain:
        return "a wildcard needs a domain after '*.'" if wildcard else "empty name"
    if domain.endswith("."):
        return "a trailing dot is not part of the RFC 5321 Domain syntax"
    if not domain.isascii():
        return "internationalized names must be written as A-labels (xn--…)"
    if len(domain) > 253:
        return "the name is longer than 253 characters"
    if not _DOMAIN.match(domain):
        bad = next((label for label in domain.split(".") if not re.fullmatch(_LABEL, label)), "")
        if not bad:
            return "empty label"
        if len(bad) > 63:
            return f"label {bad[:20]!r}… is longer than 63 characters"
        return f"label {bad!r} may hold only letters, digits and inner hyphens"
    return None


def is_ipv4(pattern: str) -> bool:
    return bool(_IPV4.match(pattern))


@dataclass(frozen=True, slots=True)
class MxMatch:
    """Whether a host is covered, and why.

    `pattern`: when covered, the first pattern that covers the host; when
    not, the pattern `reason` is about (a near miss), or None.
    """

    covered: bool
    pattern: str | None
    reason: str


def match_mx(host: str, patterns: Iterable[str]) -> MxMatch:
    """Is the MX host `host` covered by one of the policy's `mx` patterns?

    RFC 8461 §4.1: a pattern is a full host name, which matches only that
    name, or `*.` + domain, where `*` stands for exactly one whole leftmost
    label: `*.example.com` covers `mail.example.com` but neither
    `example.com` nor `a.b.example.com`. Names are A-labels.
    """
    patterns = list(patterns)
    # RFC 8461 §4.1 matches as RFC 6125 does: case-insensitive; a final dot
    # (an absolute DNS name, as MX targets are written) carries no meaning.
    name = normalize_domain(host)
    if not name or "*" in name or ".." in name or name.startswith("."):
        return MxMatch(False, None, f"{host!r} is not a host name")
    near: MxMatch | None = None
    for pattern in patterns:
        wanted = normalize_domain(pattern)
        if mx_pattern_error(wanted):
            near = near or MxMatch(
                False, pattern, f"pattern {pattern!r} is not valid and matches nothing"
            )
            continue
        if wanted.startswith("*."):
            suffix = wanted[2:]
            first, dot, rest = name.partition(".")
            if dot and rest == suffix:
                return MxMatch(
                    True,
                    pattern,
                    f"{pattern!r} covers {host!r}: '*' stands for the single label {first!r}",
                )
            if name == suffix:
                near = near or MxMatch(
                    False,
                    pattern,
                    f"{pattern!r} does not cover {host!r} "
                    "itself: '*' must stand for exactly one label",
                )
            elif name.endswith("." + suffix):
                extra = name[: -len(suffix) - 1]
                near = near or MxMatch(
                    False,
                    pattern,
                    f"{pattern!r} does not cover {host!r}: '*' stands for exactly one label, "
                    f"but {extra!r} is {extra.count('.') + 1} labels",
                )
        elif name == wanted:
            return MxMatch(True, pattern, f"{pattern!r} names {host!r} exactly")
        elif name.startswith(wanted + "."):
            near = near or MxMatch(
                False,
                pattern,
                f"{host!r} only begins with {pattern!r}; a pattern must match the whole name",
            )
        elif name.endswith("." + wanted):
            near = near or MxMatch(
                False,
                pattern,
                f"{pattern!r} names only that host, not {host!r} below it; a wildcard "
                f"'*.{wanted}' would cover one label below",
            )
    if near:
        return near
    if not patterns:
        return MxMatch(False, None, "the policy lists no mx patterns")
    listed = ", ".join(repr(p) for p in patterns[:5]) + (", …" if len(patterns) > 5 else "")
    return MxMatch(False, None, f"no mx pattern matches {host!r} (patterns: {listed})")
