"""Alerting, wired: conditions (`tlsrpt.analysis.alerts`,
`tlsrpt.analysis.alert_reports`) -> lifecycle plan (`tlsrpt.watch.lifecycle`)
-> the alerts table and its events (`tlsrpt.store.alerts`).

Two entry points for the watcher:

- `after_check(conn, domain, report, changes, now, settings, snapshot)`,
  in the transaction that stores the check: the check and change rules of
  that domain, and for a policy hosted here the drift rules
  (`tlsrpt.analysis.alert_drift`); returns the notification events it
  recorded;
- `evaluate_report_rules(store, now, settings)`: the report rules of the
  domains with reports stored since the last evaluation and of those with
  report alerts open (every domain once per `full_every`, for the rules
  that fire on silence), the quarantine rule, and the time-driven part of
  the lifecycle (resolves whose cooldown passed, mutes that ended). Safe
  to run in several processes at once: the evaluation marks move by
  compare-and-set, so one of them evaluates a given batch of reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_drift import HostedPolicy, drift_conditions
from tlsrpt.analysis.alert_model import FIRING, NO_DOMAIN, AlertEvent, AlertState, Condition
from tlsrpt.analysis.alert_reports import (
    ABSENCE_RULES,
    DATA_RULES,
    DOMAIN_RULES,
    QUARANTINE,
    ReadPlan,
    quarantine_condition,
    read_plan,
    report_conditions,
)
from tlsrpt.analysis.alert_rules import CHANGE, CHECK, REPORT, RULES, rule_source
from tlsrpt.analysis.alert_settings import AlertSettings, DomainRules
from tlsrpt.analysis.alerts import (
    POLICY_HOST_EXPIRING,
    ChangeLike,
    FindingLike,
    change_conditions,
    check_conditions,
    facts_from_check,
    facts_from_snapshot,
    utc,
)
from tlsrpt.check.findings import CODES as FINDING_CODES
from tlsrpt.records import CODES as RECORD_CODES
from tlsrpt.store import alert_reads
from tlsrpt.store.alerts import (
    active_mutes,
    advance_mark,
    apply_transitions,
    current_alerts,
    marks,
    open_rules,
    sweep_candidates,
)
from tlsrpt.store.engine import Store
from tlsrpt.store.hosted import current_version
from tlsrpt.watch.lifecycle import plan, plan_sweep

# What each finding code means, shown with its alert.
EXPLANATIONS: dict[str, str] = {
    **RECORD_CODES,
    **{code: meaning for code, (meaning, _severity) in FINDING_CODES.items()},
    # a finding that is an alert rule of its own (with thresholds): the rule's words
    **{code: rule.condition for code, rule in RULES.items() if code in FINDING_CODES},
}
ALERTABLE_CODES = frozenset(EXPLANATIONS)  # finding codes that may be configured as rules
FULL_EVERY = timedelta(hours=1)

# Per domain, whether its latest check found a TLS-RPT record (the watch
# history's reader); domains not checked are left out.
RecordReader = Callable[[Connection, Sequence[str]], Mapping[str, bool]]
EventSink = Callable[[Connection, list[AlertEvent]], None]


class CheckReport(Protocol):
    """The parts of `tlsrpt.check.DomainReport` read here."""

    @property
    def findings(self) -> Sequence[FindingLike]: ...
    @property
    def tlsrpt(self) -> Mapping[str, Any]: ...
    @property
    def mta_sts(self) -> Mapping[str, Any]: ...
    @property
    def mx(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def complete(self) -> bool: ...


def after_check(
    conn: Connection,
    domain: str,
    report: CheckReport,
    changes: Sequence[ChangeLike],
    now: datetime,
    settings: AlertSettings,
    snapshot: Mapping[str, object] | None = None,
) -> list[AlertEvent]:
    """The check and change rules of `domain` after a check, applied in
    the caller's transaction. `snapshot`: the check's watch snapshot (it
    holds the policy host's certificate); without it the facts come from
    the report, and the policy host's certificate alert is left as it is.
    A partial check (`complete` false) opens and updates alerts but
    resolves none of the check rules."""
    rules = settings.for_domain(domain)
    facts = (
        facts_from_snapshot(snapshot)
        if snapshot is not None
        else facts_from_check(report.mta_sts, report.mx, report.tlsrpt)
    )
    current = current_alerts(conn, [domain], (CHECK, CHANGE))[domain]
    active = {a.key: a for a in current if a.phase == FIRING}
    conditions = check_conditions(report.findings, facts, rules, now, EXPLANATIONS, active)
    conditions += change_conditions(changes, facts, active, rules, now)
    drift = drift_conditions(snapshot, _hosted(conn, domain), rules)
    conditions += drift.conditions
    found = {c.rule for c in conditions}
    # The report of `tlsrpt check` does not hold the policy host's certificate.
    unknown = {POLICY_HOST_EXPIRING} if snapshot is None and not facts.policy_certificate else set()
    unknown |= drift.unknown

    def in_scope(rule: str) -> bool:
        if rule in found or rule_source(rule) == CHANGE:
            return True
        return report.complete and rule not in unknown

    mutes = active_mutes(conn, [domain], now).get(domain, {})
    transitions = plan(current, conditions, mutes, now, rules.cooldown, in_scope)
    return apply_transitions(conn, domain, transitions, now)


def _hosted(conn: Connection, domain: str) -> HostedPolicy | None:
    """The current version of the domain's policy when this server hosts it."""
    version = current_version(conn, domain)
    if version is None:
        return None
    return HostedPolicy(
        domain,
        version.version,
        version.id,
        version.text,
        version.mode,
        version.mx,
        version.max_age,
    )


class CheckOutcomeLike(Protocol):
    """What the watcher's after-check hook is given (`tlsrpt.watch.watcher`)."""

    @property
    def domain(self) -> str: ...
    @property
    def checked_at(self) -> datetime: ...
    @property
    def snapshot(self) -> Mapping[str, object] | None: ...
    @property
    def changes(self) -> Sequence[ChangeLike]: ...
    @property
    def report(self) -> CheckReport | None: ...


def check_hook(
    settings: AlertSettings, on_events: EventSink | None = None
) -> Callable[[Connection, CheckOutcomeLike], None]:
    """`after_check` as the watcher's hook, called in the transaction that
    stores each check; a check that could not be made judges nothing."""

    def hook(conn: Connection, outcome: CheckOutcomeLike) -> None:
        if outcome.report is None:
            return
        events = after_check(
            conn,
            outcome.domain,
            outcome.report,
            outcome.changes,
            outcome.checked_at,
            settings,
            outcome.snapshot,
        )
        if on_events is not None and events:
            on_events(conn, events)

    return hook


def sweep(conn: Connection, now: datetime, settings: AlertSettings) -> list[AlertEvent]:
    """The time-driven part of the lifecycle over every domain: resolves
    whose cooldown has passed are notified and settled; firing alerts whose
    mute has ended are announced."""
    candidates = sweep_candidates(conn)
    mutes = active_mutes(conn, list(candidates), now)
    planned = [
        (transition, domain)
        for domain, alerts in candidates.items()
        for transition in plan_sweep(
            alerts, mutes.get(domain, {}), now, settings.for_domain(domain).cooldown
        )
    ]
    events = []
    for transition, domain in sorted(planned, key=lambda p: p[0].alert_id or 0):  # id order
        events += apply_transitions(conn, domain, [transition], now)
    return events


@dataclass(frozen=True, slots=True)
class Evaluation:
    domains: tuple[str, ...]  # evaluated ("" stands for the quarantine rule)
    events: list[AlertEvent] = field(default_factory=list)
    skipped: bool = False  # another process evaluated the same reports first


class _Raced(Exception):
    """Another evaluation moved the marks first."""


@dataclass(frozen=True, slots=True)
class _Targets:
    rules: dict[str, frozenset[str]]  # domain -> the report rules evaluated for it
    quarantine: bool
    full: bool
    marks: dict[str, int]
    top_report: int
    top_raw: int


_DATA, _ABSENCE, _ALL = frozenset(DATA_RULES), frozenset(ABSENCE_RULES), frozenset(DOMAIN_RULES)


def _targets(
    conn: Connection, now: datetime, domains: Sequence[str] | None, full_every: timedelta
) -> _Targets:
    """Which rules to evaluate for which domains. New reports can only make
    the data rules hold, so between full passes those run for the domains
    with new reports, and every rule runs where an alert of it is open (to
    resolve it); a full pass runs every rule for every domain."""
    seen = marks(conn)
    top_report, top_raw = alert_reads.last_report_pk(conn), alert_reads.last_raw_id(conn)
    if domains is not None:
        return _Targets({d: _ALL for d in set(domains) - {NO_DOMAIN}}, False, False, seen, 0, 0)
    full = int(utc(now).timestamp()) - seen.get("full", 0) >= full_every.total_seconds()
    opened = open_rules(conn, REPORT)
    rules: dict[str, frozenset[str]] = {}
    if full:
        rules = dict.fromkeys(alert_reads.all_domains(conn), _ALL)
    else:
        touched = alert_reads.touched_domains(conn, seen.get("reports", 0), top_report)
        rules = dict.fromkeys(touched, _DATA)
        for domain, open_ in opened.items():
            rules[domain] = rules.get(domain, frozenset()) | (
                _DATA if open_ & _DATA else frozenset()
            )
            rules[domain] |= _ABSENCE if open_ & _ABSENCE else frozenset()
    quarantine = (
        full or NO_DOMAIN in opened or alert_reads.quarantined_after(conn, seen.get("raw", 0))
    )
    rules.pop(NO_DOMAIN, None)
    return _Targets(rules, quarantine, full, seen, top_report, top_raw)


class _RulesOf:
    """Settings and read plans per domain; domains without overrides of
    their own share one of each."""

    def __init__(self, settings: AlertSettings, now: datetime) -> None:
        self.settings, self.now = settings, now
        self.default = settings.for_domain(NO_DOMAIN)
        self._plans: dict[tuple[bool, bool], ReadPlan] = {}

    def rules(self, domain: str) -> DomainRules:
        own = domain in self.settings.domains
        return self.settings.for_domain(domain) if own else self.default

    def plan(self, domain: str, absence: bool) -> ReadPlan:
        if domain in self.settings.domains:
            return read_plan(self.rules(domain), self.now, absence)
        key = (False, absence)
        if key not in self._plans:
            self._plans[key] = read_plan(self.default, self.now, absence)
        return self._plans[key]


def _conditions(
    conn: Connection,
    targets: _Targets,
    now: datetime,
    settings: AlertSettings,
    records: RecordReader | None,
) -> dict[str, list[Condition]]:
    of = _RulesOf(settings, now)
    domains = sorted(targets.rules)
    plans = {d: of.plan(d, bool(targets.rules[d] & _ABSENCE)) for d in domains}
    has_record = records(conn, domains) if records is not None else None
    data = alert_reads.report_data(conn, plans, has_record)
    current = current_alerts(conn, domains, (REPORT,))
    out: dict[str, list[Condition]] = {}
    for domain in domains:
        active = {a.key: a for a in current[domain] if a.phase == FIRING}
        out[domain] = report_conditions(
            data[domain], active, of.rules(domain), now, targets.rules[domain]
        )
    if targets.quarantine:
        rules = settings.for_domain(NO_DOMAIN)
        window = rules.param(QUARANTINE, "window")
        counts = alert_reads.quarantine_counts(conn, utc(now) - window)
        found = quarantine_condition(counts, rules, now)
        out[NO_DOMAIN] = [found] if found is not None else []
    return out


def _advance(conn: Connection, targets: _Targets, now: datetime) -> None:
    moves = [("reports", targets.top_report), ("raw", targets.top_raw)]
    if targets.full:
        moves.append(("full", int(utc(now).timestamp())))
    for name, new in moves:
        if not advance_mark(conn, name, targets.marks.get(name), new, now):
            raise _Raced


def _in_scope(targets: _Targets, domain: str) -> Callable[[str], bool]:
    if domain == NO_DOMAIN:
        return lambda rule: rule == QUARANTINE
    evaluated = targets.rules.get(domain, frozenset())
    return lambda rule: rule in evaluated


def _apply(
    conn: Connection,
    targets: _Targets,
    found: dict[str, list[Condition]],
    now: datetime,
    settings: AlertSettings,
) -> list[AlertEvent]:
    current: dict[str, list[AlertState]] = current_alerts(conn, list(found), (REPORT,))
    mutes = active_mutes(conn, list(found), now)
    events = []
    for domain, conditions in found.items():
        cooldown = settings.for_domain(domain).cooldown
        in_scope = _in_scope(targets, domain)
        transitions = plan(
            current[domain], conditions, mutes.get(domain, {}), now, cooldown, in_scope
        )
        events += apply_transitions(conn, domain, transitions, now)
    return events


def evaluate_report_rules(
    store: Store,
    now: datetime,
    settings: AlertSettings,
    domains: Sequence[str] | None = None,
    *,
    records: RecordReader | None = None,
    on_events: EventSink | None = None,
    full_every: timedelta = FULL_EVERY,
) -> Evaluation:
    """Evaluate the report rules (see the module docstring). `domains`:
    exactly these (the marks stay). `on_events` runs in the same write
    transaction with the events recorded (the notifiers' outbox)."""
    with store.read() as conn:
        targets = _targets(conn, now, domains, full_every)
        found = _conditions(conn, targets, now, settings, records)
    try:
        with store.write() as conn:
            if domains is None:
                _advance(conn, targets, now)
            events = _apply(conn, targets, found, now, settings)
            events += sweep(conn, now, settings)
            if on_events is not None and events:
                on_events(conn, events)
    except _Raced:
        return Evaluation(tuple(found), [], skipped=True)
    return Evaluation(tuple(found), events)
