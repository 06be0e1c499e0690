"""Domain names as tlsrpt compares, stores and queries them: one normaliser.

Every caller folds a name the same way: surrounding whitespace and final
dots dropped (a final dot marks an absolute DNS name and carries no
meaning), letters lower-cased (DNS names compare case-insensitively,
RFC 4343 §3). What callers differ in is how much they refuse, so the
normaliser takes an explicit mode:

- `"fold"` refuses nothing and keeps U-labels as written: the report
  parser records a deviation for a U-label rather than rejecting the
  report (RFC 8460 §4.4), settings and filters look names up with it.
- `"ldh"` also requires at least two labels, each 1-63 letters, digits
  and hyphens (`str.isalnum`, so a U-label passes as it always has):
  names an operator registers (accounts, hosted policies).
- `"idna"` accepts an internationalised name and returns its A-labels
  (RFC 8460 §3: IDNs are queried as A-labels); it refuses IP addresses,
  whitespace, `/`, `@`, `:` and single-label names. The checker uses it.

Pure and import-light: it sits below `records` and `report`, which must
not import upward; dnspython is loaded only by the `"idna"` mode.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

Mode = Literal["fold", "ldh", "idna"]

__all__ = [
    "DomainError",
    "ListedDomain",
    "Mode",
    "ip_literal",
    "is_normal_domain",
    "normalize_domain",
    "read_domain_list",
]


class DomainError(ValueError):
    """The text is not a domain name in the mode asked for; the message says
    why, without repeating the text (callers name it and where it came from)."""


def normalize_domain(text: str, mode: Mode = "fold") -> str:
    """`text` folded (see the module docstring); DomainError when `mode`
    refuses it."""
    if mode == "fold":
        return text.strip().rstrip(".").lower()
    if mode == "ldh":
        return _ldh(text)
    if mode == "idna":
        return _a_labels(text)
    raise ValueError(f"unknown domain mode {mode!r}")


def is_normal_domain(text: str) -> bool:
    """True only for ASCII text that `normalize_domain` leaves unchanged (a
    cheap test for the report fast path; False for some such text too, e.g.
    a name of digits only, which then takes the full path)."""
    return text.islower() and text.isascii() and text.strip() == text and text[-1] != "."


def _ldh(text: str) -> str:
    name = text.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(labels) < 2 or not all(
        label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels
    ):
        raise DomainError("is not a domain name")
    return name


def _a_labels(text: str) -> str:
    import dns.exception
    import dns.name

    raw = text.strip().rstrip(".")
    if ip_literal(raw) is not None:
        raise DomainError("is an IP address, not a domain name")
    if not raw or any(c.isspace() for c in raw) or any(c in raw for c in "/@:"):
        raise DomainError("is not a domain name")
    try:
        name = dns.name.from_unicode(raw)
    except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
        raise DomainError(f"is not a domain name: {exc}") from None
    labels = [label.decode("ascii") for label in name.labels if label]
    if len(labels) < 2 or any(not label for label in labels):
        raise DomainError("is not a domain name (it needs a dot)")
    return ".".join(labels).lower()


def ip_literal(host: str) -> str | None:
    """The IP address `host` spells, or None for a host name.

    Accepts the forms found where a host name belongs: `10.0.0.1`, `fec0::1`,
    `[fec0::1]`, SMTP's `[IPv6:fec0::1]` (RFC 5321 §4.1.3) and a final dot.
    """
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
        if text[:5].lower() == "ipv6:":
            text = text[5:]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ListedDomain:
    """One line of a domain list that names a domain: its 1-based line
    number, its text, and either the name (`normalize_domain`) or why it
    was refused; `repeat_of` is the line that named it first."""

    line: int
    text: str
    name: str | None
    error: str | None = None
    repeat_of: int | None = None


def read_domain_list(text: str, mode: Mode = "ldh") -> list[ListedDomain]:
    """The lines of a domain list, one domain a line: blank lines and
    comments (from `#` to the end of the line) are skipped; every other
    line is normalised in `mode`, a refused one keeps its error and a
    name seen before points to its first line."""
    out: list[ListedDomain] = []
    first: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.partition("#")[0].strip()
        if not entry:
            continue
        try:
            name = normalize_domain(entry, mode)
        except DomainError as exc:
            out.append(ListedDomain(number, entry, None, str(exc)))
            continue
        out.append(ListedDomain(number, entry, name, None, first.get(name)))
        first.setdefault(name, number)
    return out
