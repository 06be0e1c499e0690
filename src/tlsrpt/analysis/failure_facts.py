"""The rules that explain one failure group from the history of its day.
Pure; used by `tlsrpt.analysis.failure_context`.

Each rule gives `Fact`s (a stable code, a sentence, the values it rests
on). Report fields (MX names, failure-reason-codes, policy strings) are
hostile: they are shortened and quoted here, and escaped where shown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from tlsrpt.analysis.explain import explain
from tlsrpt.analysis.live import valid_policy
from tlsrpt.records import match_mx, parse_sts_policy

Snapshot = dict[str, Any]
POLICY_HOST_TYPES = ("sts-policy-fetch-error", "sts-webpki-invalid", "sts-policy-invalid")
_HTTP_STATUS = re.compile(r"(?<![0-9])([1-5][0-9][0-9])(?![0-9])")
_TEXT_LIMIT = 120

# Per result type, the fact codes that explain it, most telling first.
RELEVANT: dict[str, tuple[str, ...]] = {
    "certificate-expired": ("certificate-expired", "check-finding"),
    "certificate-host-mismatch": ("check-finding", "mx-not-listed"),
    "certificate-not-trusted": ("check-finding", "tls-failed"),
    "starttls-not-supported": ("starttls-missing", "tls-failed", "check-finding"),
    "validation-failure": ("mx-not-covered", "policy-superseded", "policy-differs", "tls-failed"),
    "sts-policy-fetch-error": ("policy-host-status", "policy-host-failed", "sts-record-missing"),
    "sts-webpki-invalid": ("policy-certificate-expired", "policy-host-failed"),
    "sts-policy-invalid": ("policy-invalid", "policy-host-failed", "policy-host-status"),
    "tlsa-invalid": ("tlsa-unusable", "check-finding"),
    "dnssec-invalid": ("tlsa-unusable", "check-finding"),
    "dane-required": ("tlsa-unusable", "check-finding"),
}
# Facts that say nothing was found, or that history is missing: always last.
WEAK = ("policy-host-ok", "no-fault-seen", "no-check-history")


class HostedVersion(Protocol):
    """A hosted policy version (`tlsrpt.mtasts.PolicyVersion`)."""

    @property
    def version(self) -> int: ...
    @property
    def mode(self) -> str: ...
    @property
    def mx(self) -> tuple[str, ...]: ...
    @property
    def max_age(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> dt.datetime: ...


@dataclass(frozen=True, slots=True)
class CheckState:
    """A state of the watcher: one snapshot, from the check that first saw
    it to the last one that did (aware UTC)."""

    first_seen: dt.datetime
    last_seen: dt.datetime
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class Fact:
    code: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, **self.data}


@dataclass(frozen=True, slots=True)
class PolicyView:
    """A policy in effect: as a check fetched it, or as hosted here."""

    source: str  # "check" or "hosted"
    mode: str
    mx: tuple[str, ...]
    max_age: int | None
    id: str | None
    version: int | None
    since: dt.datetime

    @property
    def key(self) -> tuple[str, tuple[str, ...], int | None]:
        return (self.mode, tuple(sorted(p.lower() for p in self.mx)), self.max_age)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mode": self.mode,
            "mx": list(self.mx),
            "max_age": self.max_age,
            "id": self.id,
            "version": self.version,
            "since": self.since,
        }


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    return start, start + dt.timedelta(days=1)


def when(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def shown(text: str) -> str:
    """Report text in a sentence: shortened, quoted."""
    cut = text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT] + "…"
    return repr(cut)


@dataclass(frozen=True, slots=True)
class DayView:
    """What was published during one day."""

    day: dt.date
    states: tuple[CheckState, ...]
    versions: Sequence[HostedVersion]  # in effect during the day
    all_versions: Sequence[HostedVersion]  # every version, oldest first
    all_states: Sequence[CheckState]  # every state read, oldest first
    earlier: CheckState | None  # without states: the latest check before the day

    def policies(self) -> list[PolicyView]:
        """The policies in effect: as the day's checks fetched them, or as
        hosted when no check of the day fetched one."""
        found = [p for s in self.states if (p := _checked_policy(s)) is not None]
        if not found:
            found = [_hosted_policy(v) for v in self.versions]
        unique: dict[tuple[Any, ...], PolicyView] = {}
        for p in found:
            unique.setdefault((p.key, p.id), p)
        return list(unique.values())


def _checked_policy(state: CheckState) -> PolicyView | None:
    policy = valid_policy(state.snapshot)
    if policy is None:
        return None
    max_age = policy.get("max_age")
    return PolicyView(
        "check",
        str(policy["mode"]),
        tuple(str(p) for p in policy.get("mx") or ()),
        int(max_age) if max_age is not None else None,
        (state.snapshot.get("sts") or {}).get("id"),
        None,
        state.first_seen,
    )


def _hosted_policy(version: HostedVersion) -> PolicyView:
    return PolicyView(
        "hosted",
        version.mode,
        version.mx,
        version.max_age,
        version.id,
        version.version,
        version.created_at,
    )


# --- the policy host (RFC 8461 §3.3) -------------------------------------


def _reason_statuses(reason_codes: Sequence[str]) -> Iterator[Fact]:
    for code in reason_codes:
        match = _HTTP_STATUS.search(code)
        if match:
            status = int(match.group(1))
            yield Fact(
                "policy-host-status",
                f"the policy host answered {status} (failure-reason-code {shown(code)})",
                {"status": status, "failure_reason_code": code},
            )


def _policy_host(view: DayView, reason_codes: Sequence[str]) -> list[Fact]:
    facts = list(_reason_statuses(reason_codes))
    _, end = day_bounds(view.day)
    for state in view.states:
        at = when(state.first_seen)
        policy = state.snapshot.get("policy")
        sts = state.snapshot.get("sts") or {}
        certificate = (policy or {}).get("certificate") or {}
        expired = _not_after(certificate)
        if policy is None and not sts.get("records"):
            facts.append(Fact("sts-record-missing", f"the check of {at} found no _mta-sts record"))
        elif policy is None:
            continue
        elif policy.get("error") or policy.get("status") != 200:
            what = policy.get("error") or f"answered {policy.get('status')}"
            facts.append(
                Fact(
                    "policy-host-failed",
                    f"in the check of {at}, {policy.get('url')} {what}",
                    {"url": policy.get("url"), "status": policy.get("status"), "checked_at": at},
                )
            )
        elif expired is not None and expired < end:
            host = urlsplit(str(policy.get("url") or "")).hostname or "the policy host"
            facts.append(
                Fact(
                    "policy-certificate-expired",
                    f"the certificate of {host} had expired on {expired:%Y-%m-%d}",
                    {"host": host, "not_after": expired},
                )
            )
        elif valid_policy(state.snapshot) is None:
            facts.append(
                Fact("policy-invalid", f"the policy served in the check of {at} was not valid")
            )
        else:
            facts.append(
                Fact(
                    "policy-host-ok",
                    f"the check of {at} fetched a valid policy (mode {policy.get('mode')})",
                )
            )
    return facts


# --- MX coverage and the policy the sender used (RFC 8461 §4.1, §3.1) ------


def _coverage(mx: str, view: DayView) -> list[Fact]:
    facts = []
    for policy in view.policies():
        if policy.mode not in ("testing", "enforce"):
            continue
        match = match_mx(mx, policy.mx)
        if not match.covered:
            patterns = ", ".join(policy.mx) or "none"
            facts.append(
                Fact(
                    "mx-not-covered",
                    f"{mx} was not covered by the policy in effect on {view.day} "
                    f"(patterns: {patterns}; {match.reason})",
                    {"host": mx, "patterns": list(policy.mx), "policy_id": policy.id},
                )
            )
    return facts


def _replacement(key: tuple[Any, ...], view: DayView) -> tuple[PolicyView, PolicyView] | None:
    """The policy the sender used and the one that replaced it on or before
    the day: among the hosted versions, else among the policies the checks
    fetched (their id is the `_mta-sts` record's)."""
    _, end = day_bounds(view.day)
    hosted = [_hosted_policy(v) for v in view.all_versions if v.created_at < end]
    checked = [p for s in view.all_states if s.first_seen < end and (p := _checked_policy(s))]
    for policies in (hosted, checked):
        for index in range(len(policies) - 2, -1, -1):
            if policies[index].key == key:
                later = (p for p in policies[index + 1 :] if p.key != key)
                new = next(later, None)
                if new is not None:
                    return policies[index], new
    return None


def _named(policy: PolicyView) -> str:
    version = f"version {policy.version}, " if policy.version is not None else ""
    return f"id {policy.id or '(none)'} ({version}mode {policy.mode})"


def _sender_policies(mx: str | None, strings: Sequence[Sequence[str]], view: DayView) -> list[Fact]:
    in_effect = {p.key for p in view.policies()}
    if not in_effect:
        return []
    facts = []
    for lines in strings:
        parsed, _ = parse_sts_policy("\r\n".join(str(s) for s in lines) + "\r\n")
        if parsed is None:
            continue
        key = (str(parsed.mode), tuple(sorted(p.lower() for p in parsed.mx)), parsed.max_age)
        if key in in_effect:
            continue
        missed = f", which did not cover {mx}" if mx and not match_mx(mx, parsed.mx).covered else ""
        data = {"mode": parsed.mode, "mx": list(parsed.mx), "max_age": parsed.max_age}
        found = _replacement(key, view)
        if found is not None:
            old, new = found
            facts.append(
                Fact(
                    "policy-superseded",
                    f"the sender used policy {_named(old)}{missed}, replaced on "
                    f"{new.since:%Y-%m-%d} by {_named(new)}: senders keep a cached policy until "
                    "its max_age ends unless they see a new _mta-sts id (RFC 8461 §3.3, §5.1)",
                    {
                        **data,
                        "source": old.source,
                        "policy_id": old.id,
                        "replaced_by": new.id,
                        "replaced_at": new.since,
                    },
                )
            )
            continue
        facts.append(
            Fact(
                "policy-differs",
                f"the sender used a policy (mode {parsed.mode}, mx {', '.join(parsed.mx)}, "
                f"max_age {parsed.max_age}){missed} that is not the one in effect on {view.day}",
                data,
            )
        )
    return facts


# --- the MX hosts as checked -----------------------------------------------


def _not_after(certificate: dict[str, Any]) -> dt.datetime | None:
    try:
        moment = dt.datetime.strptime(str(certificate["not_after"]), "%Y-%m-%dT%H:%M:%SZ")
    except (KeyError, ValueError):
        return None
    return moment.replace(tzinfo=dt.UTC)


def _tls_facts(host: str, entry: dict[str, Any], at: str, end: dt.datetime) -> Iterator[Fact]:
    for tls in entry.get("tls") or ():
        address = tls.get("address")
        expires = _not_after(tls.get("certificate") or {})
        if expires is not None and expires < end:
            yield Fact(
                "certificate-expired",
                f"the certificate of {host} had expired on {expires:%Y-%m-%d}",
                {"host": host, "address": address, "not_after": expires},
            )
        if tls.get("starttls") is False:
            yield Fact(
                "starttls-missing",
                f"{host} ({address}) offered no STARTTLS in the check of {at}",
                {"host": host, "address": address},
            )
        elif tls.get("error"):
            yield Fact(
                "tls-failed",
                f"TLS failed at {host} ({address}) in the check of {at}: {tls['error']}",
                {"host": host, "address": address},
            )


def _mx_facts(mx: str, result_type: str, view: DayView) -> list[Fact]:
    facts: list[Fact] = []
    _, end = day_bounds(view.day)
    name = mx.lower().rstrip(".")
    dane = explain(result_type).category == "dane-policy"
    for state in view.states:
        at = when(state.first_seen)
        entries = state.snapshot.get("mx") or []
        entry = next((m for m in entries if str(m.get("host")).lower() == name), None)
        if entry is None:
            if entries:
                hosts = ", ".join(str(m.get("host")) for m in entries)
                facts.append(
                    Fact(
                        "mx-not-listed",
                        f"{mx} was not among the MX hosts in the check of {at} ({hosts})",
                        {"host": mx},
                    )
                )
            continue
        facts.extend(_tls_facts(mx, entry, at, end))
        status = entry.get("tlsa_status")
        if dane and status != "ok":
            facts.append(
                Fact(
                    "tlsa-unusable",
                    f"the check of {at} found no usable TLSA records for {mx} ({status})",
                    {"host": mx, "tlsa_status": status},
                )
            )
        for finding in state.snapshot.get("findings") or ():
            subject = str(finding.get("subject") or "").lower()
            if subject == name and finding.get("severity") in ("error", "warning"):
                facts.append(
                    Fact(
                        "check-finding",
                        f"the check of {at} found: {finding.get('message')}",
                        {"host": mx, "finding": finding.get("code")},
                    )
                )
    return facts


# --- all together ------------------------------------------------------------


def _ordered(result_type: str, facts: list[Fact]) -> list[Fact]:
    unique = list({f.text: f for f in facts}.values())
    relevant = RELEVANT.get(result_type, ())

    def rank(fact: Fact) -> tuple[int, int]:
        if fact.code in WEAK:
            return (2, WEAK.index(fact.code))
        return (0, relevant.index(fact.code)) if fact.code in relevant else (1, 0)

    return sorted(unique, key=rank)  # stable: the order found within a rank


def facts_for(
    result_type: str,
    mx: str | None,
    policy_types: Sequence[str],
    reason_codes: Sequence[str],
    policy_strings: Sequence[Sequence[str]],
    view: DayView,
) -> list[Fact]:
    """Every fact the day's history gives about the group, most telling
    first; never empty."""
    host = mx.strip()[:253] if mx and mx.strip() else None
    sts = not policy_types or "sts" in policy_types
    facts: list[Fact] = []
    if sts and result_type in POLICY_HOST_TYPES:
        facts += _policy_host(view, reason_codes)
    if sts and host:
        facts += _coverage(host, view)
    if sts:
        facts += _sender_policies(host, policy_strings, view)
    if host:
        facts += _mx_facts(host, result_type, view)
    if view.states and not [f for f in facts if f.code not in WEAK]:
        where = f" at {host}" if host else ""
        facts.append(Fact("no-fault-seen", f"the checks of {view.day} saw no fault{where}"))
    if not view.states:
        earlier = view.earlier
        before = (
            f" (the latest check before it was on {when(earlier.last_seen)})" if earlier else ""
        )
        facts.append(
            Fact(
                "no-check-history",
                f"no check history for {view.day}{before}",
                {"latest_check": earlier.last_seen if earlier else None},
            )
        )
    return _ordered(result_type, facts)
