"""What a user who is not an admin sees of one stored report: only the
policies of their domains, and numbers computed over those. Pure.

A report may name several policy domains, of several customers; and its
raw input (an e-mail, a gzip) may hold other reports too. So:
- policies, their failure details and the deviations found in them are
  kept only for the user's domains (the attributed domain, the one every
  other page goes by); the report's session totals are the sums over the
  policies kept;
- the TLS-Report-Domain header is kept only when it names one of them;
- what describes the input as a whole (its digest, size, where it came
  from, the problems of its other parts) is kept only when the user may
  have the input's bytes, i.e. when every policy in it is theirs;
- the digest of the whole report's content is dropped when policies were
  left out.
Whether policies were left out is not said as such: a user learns no more
than that the input's bytes are not theirs to have.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class StoredReport:
    report: dict[str, Any]
    policies: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    raw: dict[str, Any]
    duplicates: list[dict[str, Any]]


# Raw input fields that say nothing about the input's content.
RAW_SHOWN = ("id", "kind", "source_kind", "content_type", "received_at", "processed_at", "outcome")
_IN_POLICY = re.compile(r"^\$\.policies\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class ReportView:
    """A report as one user may see it."""

    stored: StoredReport
    raw_allowed: bool  # the user may have the raw input's bytes


def whole(stored: StoredReport) -> ReportView:
    """An admin's view: everything."""
    return ReportView(stored, raw_allowed=True)


def _domain_name(text: str | None) -> str:
    return (text or "").strip().rstrip(".").lower()


def _deviations(text: str, hidden: set[int], header_hidden: bool) -> str:
    kept = []
    for dev in orjson.loads(text or "[]"):
        at = _IN_POLICY.match(str(dev.get("path", "")))
        if at is not None and int(at.group(1)) in hidden:
            continue
        if header_hidden and dev.get("code") == "header-domain-mismatch":
            continue  # its message names the header's domain
        kept.append(dev)
    return orjson.dumps(kept).decode()


def narrow(
    stored: StoredReport, names: Collection[str], raws_allowed: Collection[int]
) -> ReportView | None:
    """The part of `stored` a user who may see the domains `names` sees,
    and may have the bytes of the raw inputs `raws_allowed`; None when no
    policy of the report is theirs."""
    policies = [p for p in stored.policies if p["domain"] in names]
    if not policies:
        return None
    shown = {p["ordinal"] for p in policies}
    hidden = {p["ordinal"] for p in stored.policies} - shown
    report = dict(stored.report)
    header_hidden = bool(report.get("header_domain")) and (
        _domain_name(report["header_domain"]) not in names
    )
    if header_hidden:
        report["header_domain"] = None
    report["deviations"] = _deviations(report["deviations"], hidden, header_hidden)
    # Subsets of the stored totals: they fit wherever those do.
    report["successful_sessions"] = sum(int(p["successful_sessions"]) for p in policies)
    report["failed_sessions"] = sum(int(p["failed_sessions"]) for p in policies)
    if hidden:
        report["content_sha256"] = None
    raw_allowed = stored.raw["id"] in raws_allowed
    raw = dict(stored.raw)
    if not raw_allowed:
        raw = {key: (value if key in RAW_SHOWN else None) for key, value in raw.items()}
    duplicates = [
        d if d["raw_id"] in raws_allowed else {**d, "source_detail": None}
        for d in stored.duplicates
    ]
    narrowed = StoredReport(
        report=report,
        policies=policies,
        failures=[f for f in stored.failures if f["policy_ordinal"] in shown],
        raw=raw,
        duplicates=duplicates,
    )
    return ReportView(narrowed, raw_allowed=raw_allowed)
