"""The `enforce` policy a domain would publish, and its records. Pure.

Built with the records generators (RFC 8461 §3.2 policy, §3.1 TXT record)
from, in this order:
- `snapshot`: the watcher's latest check: the policy's `mx` patterns plus
  every MX host of the check they do not cover, so the enforce policy
  covers the MX set that is live;
- `reports`: with no check, the `mx` patterns of the latest sts policy the
  reporting senders applied (RFC 8460 §4.4 `policy-string` / `mx-host`).
`max_age` is a week (`ReadinessConfig.enforce_max_age`): short enough to
back out of a first enforce quickly. The `id` is new on each day, so a
sender refetches the policy (RFC 8461 §3.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tlsrpt.analysis.live import LiveCheck, valid_policy
from tlsrpt.records import (
    generate_sts_policy,
    generate_sts_record,
    match_mx,
    mx_pattern_error,
    parse_sts_policy,
)


@dataclass(frozen=True, slots=True)
class ReportedPolicy:
    """The latest sts policy that reporting senders applied."""

    day: dt.date
    mode: str | None
    mx: tuple[str, ...]
    max_age: int | None


def reported_policy(day: dt.date, policy_strings: Sequence[str]) -> ReportedPolicy | None:
    """From a report's `policy-string` lines (the policy text as the sender
    fetched it); None when it is not a policy tlsrpt can read."""
    parsed, _ = parse_sts_policy("\r\n".join(str(s) for s in policy_strings) + "\r\n")
    if parsed is None:
        return None
    return ReportedPolicy(day, str(parsed.mode), tuple(parsed.mx), parsed.max_age)


@dataclass(frozen=True, slots=True)
class EnforcePolicy:
    domain: str
    source: str  # "snapshot" or "reports"
    mx: tuple[str, ...]
    max_age: int
    policy_id: str
    text: str

    @property
    def url(self) -> str:
        return f"https://mta-sts.{self.domain}/.well-known/mta-sts.txt"

    def records(self) -> list[dict[str, str]]:
        return [
            {
                "name": f"_mta-sts.{self.domain}",
                "type": "TXT",
                "value": generate_sts_record(self.policy_id),
            }
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "records": self.records(),
            "url": self.url,
            "mode": "enforce",
            "mx": list(self.mx),
            "max_age": self.max_age,
            "source": self.source,
        }


def _usable(patterns: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for pattern in patterns:
        name = pattern.rstrip(".")
        if mx_pattern_error(name) is None and name.lower() not in (p.lower() for p in out):
            out.append(name)
    return tuple(out)


def enforce_policy(
    domain: str,
    today: dt.date,
    check: LiveCheck | None,
    reported: ReportedPolicy | None,
    max_age: int,
) -> EnforcePolicy | None:
    """The enforce policy to publish, or None when no MX set is known."""
    source = ""
    patterns: tuple[str, ...] = ()
    if check is not None:
        policy = valid_policy(check.snapshot) or {}
        known = list(policy.get("mx") or ())
        hosts = [str(m["host"]) for m in check.snapshot.get("mx") or ()]
        known += [h for h in hosts if not match_mx(h, known).covered]
        source, patterns = "snapshot", _usable(known)
    if not patterns and reported is not None:
        source, patterns = "reports", _usable(reported.mx)
    if not patterns:
        return None
    text = generate_sts_policy("enforce", list(patterns), max_age)
    return EnforcePolicy(domain, source, patterns, max_age, f"{today:%Y%m%d}enforce", text)
