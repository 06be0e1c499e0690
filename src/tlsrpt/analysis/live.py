"""The live state of a domain in the readiness verdict: what the watcher's
latest check (a snapshot, `tlsrpt.watch.snapshot`) says about what
`enforce` would meet today. Pure.

With a check no older than `max_check_age_days`:
- `policy-published`: an `_mta-sts` record and a policy exist at all
  (without them there is nothing to move to enforce: insufficient data);
- `policy-host`: the policy host serves a valid policy (RFC 8461 §3.3);
- `mx-coverage`: every MX host matches an `mx` pattern (RFC 8461 §4.1);
- `mx-certificates`: every probed MX address completes STARTTLS with a
  valid certificate (RFC 8461 §4.2) that outlives the policy's `max_age`
  from today (a sender caching the enforce policy that long must still be
  able to deliver).
The last three failing make the domain not ready.

`last_change(states)`: the latest day the policy (id, mode, mx patterns,
max_age) or the MX host set changed, from the domain's snapshots.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tlsrpt.analysis.reasons import DAY_SECONDS, ReadinessConfig, Reason, plural
from tlsrpt.records import match_mx

Snapshot = dict[str, Any]

POLICY_HOST_FINDINGS = (
    "sts-policy-fetch-failed",
    "sts-policy-webpki-invalid",
    "sts-policy-redirect",
    "sts-policy-content-type",
    "sts-policy-invalid",
)
MX_FINDINGS = (
    "mx-starttls-missing",
    "mx-tls-failed",
    "mx-tls-version-old",
    "mx-certificate-expired",
    "mx-certificate-untrusted",
    "mx-certificate-host-mismatch",
)


@dataclass(frozen=True, slots=True)
class LiveCheck:
    """The latest snapshot of a domain and when a check last saw it (UTC)."""

    snapshot: Snapshot
    checked_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SetupChange:
    day: dt.date
    summary: str


def valid_policy(snapshot: Snapshot) -> dict[str, Any] | None:
    """The snapshot's policy when it was fetched and valid (it has a mode)."""
    policy = snapshot.get("policy")
    return policy if policy and policy.get("mode") is not None else None


def policy_max_age(snapshot: Snapshot) -> int | None:
    policy = valid_policy(snapshot)
    return int(policy["max_age"]) if policy and policy.get("max_age") is not None else None


def is_recent(check: LiveCheck | None, today: dt.date, config: ReadinessConfig) -> bool:
    if check is None:
        return False
    day = check.checked_at.astimezone(dt.UTC).date()
    return today - dt.timedelta(days=config.max_check_age_days) <= day <= today


def _findings(snapshot: Snapshot, codes: Sequence[str]) -> list[dict[str, Any]]:
    return [f for f in snapshot.get("findings") or () if f.get("code") in codes]


def _published(snapshot: Snapshot, when: str) -> Reason | None:
    sts = snapshot.get("sts") or {}
    if sts.get("records") or snapshot.get("policy"):
        return None
    return Reason(
        "policy-published",
        False,
        f"no MTA-STS record at _mta-sts in the check of {when}: there is no policy to move "
        "to enforce (RFC 8461 §3.1)",
        sts.get("status"),
        "ok",
    )


def _policy_host_name(policy: dict[str, Any]) -> str:
    """`mta-sts.<domain>` from the policy URL (RFC 8461 §3.3)."""
    parts = str(policy.get("url") or "").split("/")
    return parts[2] if len(parts) > 2 and parts[2] else "the policy host"


def _policy_host(snapshot: Snapshot, when: str) -> Reason:
    policy = snapshot.get("policy") or {}
    problems = [str(f.get("message")) for f in _findings(snapshot, POLICY_HOST_FINDINGS)]
    if valid_policy(snapshot) is None and not problems:
        problems.append(str(policy.get("error") or f"status {policy.get('status')}"))
    host = _policy_host_name(policy)
    if problems:
        return Reason(
            "policy-host",
            False,
            f"{host} fails in the check of {when}: " + "; ".join(problems),
            policy.get("error") or policy.get("status"),
            200,
        )
    return Reason(
        "policy-host",
        True,
        f"{host} serves a valid policy (mode {policy.get('mode')}, max_age "
        f"{policy.get('max_age')}) in the check of {when}",
        200,
        200,
    )


def _coverage(snapshot: Snapshot, when: str) -> Reason | None:
    policy = valid_policy(snapshot)
    if policy is None:
        return None
    patterns = list(policy.get("mx") or [])
    hosts = [str(m["host"]) for m in snapshot.get("mx") or ()]
    uncovered = sorted({h for h in hosts if not match_mx(h, patterns).covered})
    for finding in _findings(snapshot, ("sts-mx-not-covered",)):
        if finding.get("subject") and finding["subject"] not in uncovered:
            uncovered.append(str(finding["subject"]))
    if uncovered:
        text = (
            f"MX {', '.join(uncovered)} not covered by the policy's mx patterns "
            f"({', '.join(patterns) or 'none'}) in the check of {when}: enforce would stop "
            "delivery to it (RFC 8461 §4.1)"
        )
        return Reason("mx-coverage", False, text, uncovered, patterns)
    text = f"every MX ({', '.join(hosts) or 'none'}) is covered by the policy's mx patterns"
    return Reason("mx-coverage", True, text, [], patterns)


def _not_after(cert: dict[str, Any]) -> dt.datetime | None:
    try:
        moment = dt.datetime.strptime(str(cert["not_after"]), "%Y-%m-%dT%H:%M:%SZ")
    except (KeyError, ValueError):
        return None
    return moment.replace(tzinfo=dt.UTC)


def _mx_problems(snapshot: Snapshot, must_outlive: dt.datetime) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for mx in snapshot.get("mx") or ():
        host = str(mx["host"])
        for tls in mx.get("tls") or ():
            address = tls.get("address")
            if tls.get("starttls") is False:
                problems.append((host, f"{address} offers no STARTTLS"))
            elif tls.get("error"):
                problems.append((host, f"TLS fails at {address}: {tls['error']}"))
            cert = tls.get("certificate")
            expires = _not_after(cert) if cert else None
            if expires is not None and expires < must_outlive:
                problems.append((host, f"the certificate at {address} expires {expires:%Y-%m-%d}"))
    for finding in _findings(snapshot, MX_FINDINGS):
        problems.append((str(finding.get("subject") or "?"), str(finding.get("message"))))
    return list(dict.fromkeys(problems))


def _days(seconds: int) -> str:
    return plural(seconds // DAY_SECONDS, "day") if seconds % DAY_SECONDS == 0 else f"{seconds:,} s"


def _certificates(snapshot: Snapshot, when: str, today: dt.date, max_age: int) -> Reason:
    start = dt.datetime.combine(today, dt.time(), dt.UTC)
    must_outlive = start + dt.timedelta(seconds=max_age)
    limit = f"{must_outlive:%Y-%m-%d}"
    problems = _mx_problems(snapshot, must_outlive)
    if problems:
        hosts = sorted({host for host, _ in problems})
        text = (
            f"MX certificates or TLS failing in the check of {when} (certificates must be "
            f"valid until {limit}, today plus the max_age of {_days(max_age)}): "
            + "; ".join(f"{host}: {what}" for host, what in problems)
        )
        return Reason("mx-certificates", False, text, hosts, limit)
    text = f"every probed MX completes STARTTLS with a certificate valid until after {limit}"
    return Reason("mx-certificates", True, text, [], limit)


def live_reasons(
    check: LiveCheck | None, today: dt.date, max_age: int, config: ReadinessConfig
) -> list[Reason]:
    """The live-state reasons (see the module docstring); one informational
    `live-check` reason when there is no recent check."""
    if check is None or not is_recent(check, today, config):
        seen = "" if check is None else f" (the latest is of {check.checked_at:%Y-%m-%d})"
        return [
            Reason(
                "live-check",
                True,
                f"no check of the domain in the last {plural(config.max_check_age_days, 'day')}"
                f"{seen}: MX coverage, certificates and the policy host are not part of this "
                "verdict; tlsrpt watch checks them",
                None if check is None else f"{check.checked_at:%Y-%m-%dT%H:%M:%SZ}",
                config.max_check_age_days,
            )
        ]
    snapshot = check.snapshot
    when = f"{check.checked_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    missing = _published(snapshot, when)
    if missing is not None:
        return [missing]
    reasons = [_policy_host(snapshot, when)]
    coverage = _coverage(snapshot, when)
    if coverage is not None:
        reasons.append(coverage)
    reasons.append(_certificates(snapshot, when, today, max_age))
    return reasons


def _policy_key(snapshot: Snapshot) -> tuple[Any, ...] | None:
    policy = valid_policy(snapshot)
    if policy is None:
        return None
    sts_id = (snapshot.get("sts") or {}).get("id")
    return (
        sts_id,
        policy.get("mode"),
        tuple(sorted(policy.get("mx") or ())),
        policy.get("max_age"),
    )


def _mx_key(snapshot: Snapshot) -> tuple[str, ...] | None:
    hosts = tuple(sorted(str(m["host"]).lower() for m in snapshot.get("mx") or ()))
    return hosts or None


def _describe(before: tuple[Any, ...], after: tuple[Any, ...], mx: bool) -> str:
    if mx:
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        parts = [f"MX {', '.join(added)} added"] if added else []
        parts += [f"MX {', '.join(removed)} removed"] if removed else []
        return "; ".join(parts)
    names = ("id", "mode", "mx", "max_age")
    parts = []
    for name, old, new in zip(names, before, after, strict=True):
        if old != new:
            shown = (", ".join(x) for x in (old, new)) if name == "mx" else (old, new)
            parts.append(f"policy {name} {' -> '.join(str(x) for x in shown)}")
    return "; ".join(parts)


def last_change(states: Sequence[tuple[dt.datetime, Snapshot]]) -> SetupChange | None:
    """The latest policy or MX-set change among snapshots (oldest first, each
    with the time it was first seen). A check where the policy or the MX
    lookup failed says nothing about them: it is skipped, so an outage of
    the policy host is not a change of the policy."""
    found: SetupChange | None = None
    known: dict[bool, tuple[Any, ...]] = {}
    for seen_at, snapshot in states:
        day = seen_at.astimezone(dt.UTC).date()
        parts = []
        for is_mx, key in ((False, _policy_key(snapshot)), (True, _mx_key(snapshot))):
            if key is None:
                continue
            if is_mx in known and known[is_mx] != key:
                parts.append(_describe(known[is_mx], key, is_mx))
            known[is_mx] = key
        if parts:
            found = SetupChange(day, "; ".join(parts))
    return found
