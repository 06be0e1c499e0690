"""Alert conditions from a domain check: its findings and what changed
since the previous check. Pure: the clock, the settings and the alerts
already firing are parameters. Report rules: `tlsrpt.analysis.alert_reports`.

- `check_conditions`: every finding of severity warning or error is a
  condition under the finding's code, about the host, URI or name its
  evidence names; expiring certificates (an MX's, from the finding; the
  policy host's, from the check's facts) carry the expiry threshold reached
  as their level;
- `change_conditions`: the change rules. A change happens at one check, so
  these conditions hold from that check for a while: until the fault is
  gone (the id changed; the policy covers the MX hosts again) or, for news
  that needs no fix, for the rule's `hold`. That is why they read the
  alerts already firing (`active`).

Findings and changes are read through protocols (the checker's `Finding`,
the watcher's `Change`): this module imports neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from tlsrpt.analysis.alert_model import NO_SUBJECT, AlertState, Condition
from tlsrpt.analysis.alert_settings import DomainRules
from tlsrpt.records import match_mx

ALERT_SEVERITIES = ("error", "warning")  # findings of these severities are alerts
MX_EXPIRING = "mx-certificate-expiring"
POLICY_HOST_EXPIRING = "sts-policy-host-certificate-expiring"
POLICY_WITHOUT_ID = "sts-policy-changed-without-id-change"
MX_SET = "mx-set-changed"
TLSRPT_RECORD = "tlsrpt-record-changed"
MX_CHANGE_KINDS = ("mx-added", "mx-removed", "mx-set-changed")
_SUBJECT_KEYS = ("host", "uri", "name", "url")  # evidence keys, most specific first


class FindingLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def severity(self) -> Any: ...  # a str or StrEnum: "error", "warning", "info"
    @property
    def message(self) -> str: ...
    @property
    def evidence(self) -> Mapping[str, Any]: ...
    @property
    def fix(self) -> str | None: ...


class ChangeLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def summary(self) -> str: ...
    @property
    def details(self) -> Mapping[str, Any]: ...


Active = Mapping[tuple[str, str], AlertState]  # firing alerts by (rule, subject)


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (naive ones are taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 time (`Z` or an offset; naive is UTC), or None."""
    if not isinstance(text, str):
        return None
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def finding_subject(evidence: Mapping[str, Any]) -> str:
    """What a finding is about: the MX host, rua URI, DNS name or the
    policy host of a URL its evidence names; NO_SUBJECT otherwise."""
    for key in _SUBJECT_KEYS:
        value = evidence.get(key)
        if isinstance(value, str) and value:
            return (urlsplit(value).hostname or value) if key == "url" else value
    return NO_SUBJECT


def expiry_level(not_after: datetime, now: datetime, days: Iterable[int]) -> int | None:
    """The smallest threshold (in days) the time left is within; None when
    it is beyond all of them or the certificate has already expired."""
    left = utc(not_after) - utc(now)
    if left <= timedelta(0):
        return None
    within = [d for d in days if left <= timedelta(days=d)]
    return min(within) if within else None


@dataclass(frozen=True, slots=True)
class CheckFacts:
    """What the rules need of one check: the `_mta-sts` id, the policy and
    its host's certificate, the MX hosts."""

    sts_id: str | None = None
    mode: str | None = None
    max_age: int | None = None
    patterns: tuple[str, ...] = ()
    mx_hosts: tuple[str, ...] = ()
    policy_host: str | None = None
    policy_certificate: Mapping[str, Any] | None = None
    tlsrpt_records: tuple[str, ...] = field(default=())


def facts_from_snapshot(snapshot: Mapping[str, Any]) -> CheckFacts:
    """From a watch snapshot (`tlsrpt.watch.snapshot` shape)."""
    policy = snapshot.get("policy") or {}
    url = policy.get("url")
    return CheckFacts(
        sts_id=(snapshot.get("sts") or {}).get("id"),
        mode=policy.get("mode"),
        max_age=policy.get("max_age"),
        patterns=tuple(policy.get("mx") or ()),
        mx_hosts=tuple(m["host"] for m in snapshot.get("mx") or () if m.get("host")),
        policy_host=urlsplit(url).hostname if isinstance(url, str) else None,
        policy_certificate=policy.get("certificate"),
        tlsrpt_records=tuple((snapshot.get("tlsrpt") or {}).get("records") or ()),
    )


def facts_from_check(
    mta_sts: Mapping[str, Any], mx: Sequence[Mapping[str, Any]], tlsrpt: Mapping[str, Any]
) -> CheckFacts:
    """From the sections of a `tlsrpt check` report (no certificate of the
    policy host there)."""
    policy = mta_sts.get("policy") or {}
    url = policy.get("url")
    return CheckFacts(
        sts_id=mta_sts.get("id"),
        mode=policy.get("mode"),
        max_age=policy.get("max_age"),
        patterns=tuple(policy.get("mx") or ()),
        mx_hosts=tuple(m["host"] for m in mx if m.get("host")),
        policy_host=urlsplit(url).hostname if isinstance(url, str) else None,
        policy_certificate=policy.get("certificate"),
        tlsrpt_records=tuple(str(r) for r in tlsrpt.get("records") or ()),
    )


# --- from checks -------------------------------------------------------------


def _certificate_not_after(evidence: Mapping[str, Any]) -> datetime | None:
    certificate = evidence.get("certificate")
    if isinstance(certificate, Mapping):
        return parse_time(certificate.get("not_after"))
    return None


def _finding_condition(
    finding: FindingLike,
    rules: DomainRules,
    now: datetime,
    explanations: Mapping[str, str],
    active: Active,
) -> Condition | None:
    severity = str(finding.severity)
    subject = finding_subject(finding.evidence)
    if severity not in ALERT_SEVERITIES:
        # A finding that opened an alert keeps it while it is there, at the
        # alert's severity: its severity can fall for another fault's sake
        # (an expiring MX certificate is "info" while the MTA-STS policy
        # cannot be fetched), and the alert must not resolve and re-open.
        firing = active.get((finding.code, subject))
        if firing is None:
            return None
        severity = firing.severity
    if not rules.enabled(finding.code):
        return None
    level = None
    if finding.code == MX_EXPIRING:
        not_after = _certificate_not_after(finding.evidence)
        if not_after is None:
            days_left = finding.evidence.get("days_left")
            if not isinstance(days_left, int):
                return None
            not_after = utc(now) + timedelta(days=days_left, hours=12)
        level = expiry_level(not_after, now, rules.param(MX_EXPIRING, "days"))
        if level is None:
            return None
    return Condition(
        finding.code,
        subject,
        severity,
        finding.message,
        explanations.get(finding.code, finding.message),
        finding.fix,
        dict(finding.evidence),
        level,
    )


def _policy_host_condition(facts: CheckFacts, rules: DomainRules, now: datetime) -> list[Condition]:
    certificate = facts.policy_certificate
    if not certificate or not facts.policy_host or not rules.enabled(POLICY_HOST_EXPIRING):
        return []
    not_after = parse_time(certificate.get("not_after"))
    if not_after is None:
        return []
    level = expiry_level(not_after, now, rules.param(POLICY_HOST_EXPIRING, "days"))
    if level is None:
        return []
    host = facts.policy_host
    days_left = (not_after - utc(now)).days
    return [
        Condition(
            POLICY_HOST_EXPIRING,
            host,
            "warning",
            f"the certificate of the MTA-STS policy host {host} expires on "
            f"{not_after:%Y-%m-%d}, in {days_left} days",
            "senders fetch the MTA-STS policy over HTTPS and refuse a host whose certificate "
            "has expired; senders without a cached policy then deliver without MTA-STS, and "
            "cached policies cannot be refreshed (RFC 8461 §3.3)",
            f"renew the certificate of {host} (and check that renewal is automated)",
            {"host": host, "certificate": dict(certificate), "days_left": days_left},
            level,
        )
    ]


def check_conditions(
    findings: Iterable[FindingLike],
    facts: CheckFacts,
    rules: DomainRules,
    now: datetime,
    explanations: Mapping[str, str] | None = None,
    active: Active | None = None,
) -> list[Condition]:
    """Conditions of the check rules. `explanations`: what each finding code
    means (the checker's `CODES`), shown with the alert; `active`: the
    domain's firing alerts (a finding of severity info keeps its alert)."""
    found: dict[tuple[str, str], Condition] = {}
    for finding in findings:
        condition = _finding_condition(finding, rules, now, explanations or {}, active or {})
        if condition is not None:
            found.setdefault(condition.key, condition)  # the checker lists the worst first
    for condition in _policy_host_condition(facts, rules, now):
        found.setdefault(condition.key, condition)
    return list(found.values())


# --- from changes ------------------------------------------------------------


def _coverage(facts: CheckFacts) -> list[dict[str, str]]:
    """MX hosts the policy does not cover (RFC 8461 §4.1), when it is in force."""
    if facts.mode not in ("enforce", "testing"):
        return []
    uncovered = []
    for host in facts.mx_hosts:
        match = match_mx(host, facts.patterns)
        if not match.covered:
            uncovered.append({"host": host, "reason": match.reason})
    return uncovered


def _mx_set_condition(
    facts: CheckFacts, changes: list[str], changed_at: str, until: str
) -> Condition:
    uncovered = _coverage(facts)
    if uncovered:
        names = ", ".join(u["host"] for u in uncovered)
        severity = "error" if facts.mode == "enforce" else "warning"
        coverage = f"the MTA-STS policy (mode {facts.mode}) does not cover {names}" + (
            ": senders that enforce it do not deliver there" if severity == "error" else ""
        )
    else:
        severity = "info"
        coverage = (
            "the MTA-STS policy covers every MX"
            if facts.mode in ("enforce", "testing")
            else "no MTA-STS policy in force"
        )
    return Condition(
        MX_SET,
        NO_SUBJECT,
        severity,
        f"MX hosts changed ({'; '.join(changes)}); {coverage}",
        "the domain's MX hosts changed; an MX that the MTA-STS policy does not list is "
        "refused by senders that enforce the policy (RFC 8461 §4.1)",
        "add the new MX hosts to the policy's mx lines and publish a new id" if uncovered else None,
        {
            "mx": list(facts.mx_hosts),
            "patterns": list(facts.patterns),
            "mode": facts.mode,
            "uncovered": uncovered,
            "changes": changes,
            "changed_at": changed_at,
            "until": until,
        },
    )


def _held(state: AlertState | None, now: datetime) -> bool:
    until = parse_time(state.evidence.get("until")) if state is not None else None
    return until is not None and utc(now) < until


def _policy_condition(
    changes: list[ChangeLike], facts: CheckFacts, state: AlertState | None, now: datetime
) -> Condition | None:
    if changes:
        max_age = facts.max_age or 86400
        change = changes[-1]
        return Condition(
            POLICY_WITHOUT_ID,
            NO_SUBJECT,
            "warning",
            f"{change.summary}; the `_mta-sts` id is still {facts.sts_id}",
            "the MTA-STS policy changed but the id of the `_mta-sts` record did not, so "
            "senders that cached the policy keep using the old one until its max_age runs "
            "out; they refetch only when the id changes (RFC 8461 §3.1, §3.3)",
            "publish a new id in the `_mta-sts` TXT record",
            {
                "id": facts.sts_id,
                "max_age": max_age,
                "changed_at": iso(now),
                "until": iso(utc(now) + timedelta(seconds=max_age)),
                "change": dict(change.details),
            },
        )
    if state is not None and _held(state, now) and state.evidence.get("id") == facts.sts_id:
        return _carried(state, POLICY_WITHOUT_ID)
    return None


def _carried(state: AlertState, rule: str) -> Condition:
    """The condition of an alert that still holds, as it was."""
    return Condition(
        rule,
        state.subject,
        state.severity,
        state.summary,
        state.explanation,
        state.fix,
        dict(state.evidence),
        state.level,
    )


def change_conditions(
    changes: Iterable[ChangeLike],
    facts: CheckFacts,
    active: Active,
    rules: DomainRules,
    now: datetime,
) -> list[Condition]:
    """Conditions of the change rules after a check that found `changes`."""
    by_kind: dict[str, list[ChangeLike]] = {}
    for change in changes:
        by_kind.setdefault(change.kind, []).append(change)
    out: list[Condition] = []
    if rules.enabled(POLICY_WITHOUT_ID):
        state = active.get((POLICY_WITHOUT_ID, NO_SUBJECT))
        found = _policy_condition(by_kind.get(POLICY_WITHOUT_ID, []), facts, state, now)
        out += [found] if found is not None else []
    if rules.enabled(MX_SET):
        mx_changes = [c.summary for kind in MX_CHANGE_KINDS for c in by_kind.get(kind, [])]
        state = active.get((MX_SET, NO_SUBJECT))
        hold = rules.param(MX_SET, "hold")
        if mx_changes:
            out.append(_mx_set_condition(facts, mx_changes, iso(now), iso(utc(now) + hold)))
        elif state is not None:
            again = _mx_set_condition(
                facts,
                list(state.evidence.get("changes") or []),
                str(state.evidence.get("changed_at")),
                str(state.evidence.get("until")),
            )
            if again.evidence["uncovered"] or _held(state, now):
                out.append(again)
    if rules.enabled(TLSRPT_RECORD):
        state = active.get((TLSRPT_RECORD, NO_SUBJECT))
        record_changes = by_kind.get(TLSRPT_RECORD, [])
        if record_changes:
            change = record_changes[-1]
            hold = rules.param(TLSRPT_RECORD, "hold")
            out.append(
                Condition(
                    TLSRPT_RECORD,
                    NO_SUBJECT,
                    "warning",
                    change.summary,
                    "the `_smtp._tls` TXT record changed; senders send reports to the rua it "
                    "names now (RFC 8460 §3), which may no longer be this tlsrpt",
                    "check that rua still names the addresses tlsrpt receives reports at",
                    {
                        "records": list(facts.tlsrpt_records),
                        "change": dict(change.details),
                        "changed_at": iso(now),
                        "until": iso(utc(now) + hold),
                    },
                )
            )
        elif state is not None and _held(state, now):
            out.append(_carried(state, TLSRPT_RECORD))
    return out
