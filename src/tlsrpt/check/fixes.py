"""The text of a fix: zone-file lines and policy files to publish, built with
the records generators so every fix is itself valid."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tlsrpt.domains import ip_literal
from tlsrpt.records import (
    MAX_AGE_LIMIT,
    Mode,
    generate_sts_policy,
    generate_sts_record,
    mx_pattern_error,
    txt_presentation,
)

DEFAULT_MAX_AGE = 604800  # one week, the usual first step


def zone_txt(name: str, value: str) -> str:
    return f"{name}. IN TXT {txt_presentation(value)}"


def new_policy_id(now: dt.datetime) -> str:
    """A fresh `id` (RFC 8461 §3.1: 1-32 letters and digits), from the time."""
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")


def sts_record_fix(domain: str, now: dt.datetime) -> str:
    return zone_txt(f"_mta-sts.{domain}", generate_sts_record(new_policy_id(now)))


def policy_fix(
    domain: str,
    mode: Mode,
    mx: Sequence[str],
    now: dt.datetime,
    max_age: int = DEFAULT_MAX_AGE,
) -> str | None:
    """The policy file to serve, then the new TXT id that makes senders refetch it.

    MX names that cannot be policy patterns (an IP address as MX target, a
    malformed label in a hostile zone) are left out; None when nothing is
    left and the mode needs a pattern (RFC 8461 §3.2).
    """
    patterns: list[str] = []
    for pattern in mx:
        usable = mx_pattern_error(pattern) is None and ip_literal(pattern) is None
        if usable and pattern.lower() not in (p.lower() for p in patterns):
            patterns.append(pattern)
    if not patterns and mode != "none":
        return None
    policy = generate_sts_policy(mode, patterns, min(max(max_age, 0), MAX_AGE_LIMIT))
    return (
        f"# serve at https://mta-sts.{domain}/.well-known/mta-sts.txt as text/plain:\n"
        + policy.replace("\r\n", "\n")
        + "# then change the id so that senders fetch it again (RFC 8461 §3.1):\n"
        + sts_record_fix(domain, now)
    )
