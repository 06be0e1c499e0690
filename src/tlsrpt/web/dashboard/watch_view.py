"""What the domain page shows of the watcher: the current state (the latest
snapshot's records, policy and certificates with the days they have left)
and the latest changes. Pure: built from stored states and a clock. Every
string here comes from DNS, a policy host or an MX and is autoescaped by
the templates like any other text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tlsrpt.watch.history import State
from tlsrpt.watch.snapshot import Snapshot

HISTORY_CHANGES = 20  # changes on the domain page
EXPIRY_WARN_DAYS = 30  # fewer days left than this: highlighted


def days_left(not_after: dt.datetime | None, now: dt.datetime) -> int | None:
    """Whole days until `not_after` (negative once past), rounded down."""
    if not_after is None:
        return None
    return math.floor((not_after - now).total_seconds() / 86400)


def expiry_class(days: int | None) -> str:
    """A CSS class for a count of days left."""
    if days is None:
        return "expiry-none"
    if days < 0:
        return "expiry-expired"
    return "expiry-soon" if days < EXPIRY_WARN_DAYS else "expiry-ok"


def days_text(days: int | None) -> str:
    if days is None:
        return "–"
    if days < 0:
        return f"expired {-days} day{'s' if days != -1 else ''} ago"
    return f"{days} day{'s' if days != 1 else ''}"


def _parse(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class CertView:
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_after: str
    days: int | None


def cert_view(cert: dict[str, Any] | None, now: dt.datetime) -> CertView | None:
    if not cert:
        return None
    not_after = str(cert.get("not_after") or "")
    return CertView(
        subject=str(cert.get("subject") or ""),
        issuer=str(cert.get("issuer") or ""),
        sans=tuple(str(s) for s in cert.get("sans") or ()),
        not_after=not_after,
        days=days_left(_parse(not_after), now),
    )


@dataclass(frozen=True, slots=True)
class TlsView:
    address: str
    starttls: bool | None
    tls_version: str | None
    error: str | None
    certificate: CertView | None


@dataclass(frozen=True, slots=True)
class MxView:
    host: str
    preference: int | None
    addresses: tuple[str, ...]
    tls: tuple[TlsView, ...] | None  # None: not probed
    tlsa: tuple[str, ...]
    tlsa_status: str | None


@dataclass(frozen=True, slots=True)
class CurrentState:
    since: dt.datetime
    last_seen: dt.datetime
    checks: int
    tlsrpt: dict[str, Any]
    sts: dict[str, Any]
    policy: dict[str, Any] | None
    policy_certificate: CertView | None
    mx: tuple[MxView, ...]
    findings: tuple[dict[str, Any], ...]


def _mx(item: dict[str, Any], now: dt.datetime) -> MxView:
    probes = item.get("tls")
    tls = None
    if probes is not None:
        tls = tuple(
            TlsView(
                str(p.get("address") or ""),
                p.get("starttls"),
                p.get("tls_version"),
                p.get("error"),
                cert_view(p.get("certificate"), now),
            )
            for p in probes
        )
    return MxView(
        host=str(item.get("host") or ""),
        preference=item.get("preference"),
        addresses=tuple(str(a) for a in item.get("addresses") or ()),
        tls=tls,
        tlsa=tuple(str(t) for t in item.get("tlsa") or ()),
        tlsa_status=item.get("tlsa_status"),
    )


def current_state(state: State, now: dt.datetime) -> CurrentState:
    """The latest state of a domain as the page shows it."""
    snapshot: Snapshot = state.snapshot
    policy = snapshot.get("policy")
    return CurrentState(
        since=state.since,
        last_seen=state.last_seen,
        checks=state.checks,
        tlsrpt=snapshot.get("tlsrpt") or {},
        sts=snapshot.get("sts") or {},
        policy=policy,
        policy_certificate=cert_view((policy or {}).get("certificate"), now),
        mx=tuple(_mx(m, now) for m in snapshot.get("mx") or ()),
        findings=tuple(snapshot.get("findings") or ()),
    )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: dt.datetime
    kind: str
    summary: str


def history_entries(states: Sequence[State], limit: int = HISTORY_CHANGES) -> list[HistoryEntry]:
    """The latest `limit` changes, newest first; the domain's first check
    is an entry of its own when it is among them."""
    entries: list[HistoryEntry] = []
    for state in states:
        entries += [HistoryEntry(state.since, c.kind, c.summary) for c in state.changes]
        if state.first:
            entries.append(HistoryEntry(state.since, "first-check", "first check"))
    return entries[:limit]
