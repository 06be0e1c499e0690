"""Alerting, wired: conditions (`tlsrpt.analysis.alerts`,
`tlsrpt.analysis.alert_reports`) -> lifecycle plan (`tlsrpt.watch.lifecycle`)
-> the alerts table and its events (`tlsrpt.store.alerts`).

Two entry points for the watcher:

- `after_check(conn, domain, report, changes, now, settings, snapshot)`,
  in the transaction that stores the check: the check and change rules of
  that domain; returns the notification events it recorded;
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

from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_model import FIRING, NO_DOMAIN, AlertEvent, AlertState, Condition
from tlsrpt.analysis.alert_reports import (
    DOMAIN_RULES,
    QUARANTINE,
    quarantine_condition,
    read_plan,
    report_conditions,
)
from tlsrpt.analysis.alert_rules import CHANGE, CHECK, REPORT, rule_source
from tlsrpt.analysis.alert_settings import AlertSettings
from tlsrpt.analysis.alerts import (
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
    domains_with_alerts,
    marks,
    sweep_candidates,
)
from tlsrpt.store.engine import Store
from tlsrpt.watch.lifecycle import plan, plan_sweep

# What each finding code means, shown with its alert.
EXPLANATIONS: dict[str, str] = {
    **RECORD_CODES,
    **{code: meaning for code, (meaning, _severity) in FINDING_CODES.items()},
}
ALERTABLE_CODES = frozenset(EXPLANATIONS)  # finding codes that may be configured as rules
FULL_EVERY = timedelta(hours=1)

# Per domain, whether its latest check found a TLS-RPT record (the watch
# history's reader); domains not checked are left out.
RecordReader = Callable[[Connection, Sequence[str]], Mapping[str, bool]]
EventSink = Callable[[Connection, list[AlertEvent]], None]


class CheckReport:  # the parts of `tlsrpt.check.DomainReport` read here
    findings: Sequence[FindingLike]
    tlsrpt: Mapping[str, object]
    mta_sts: Mapping[str, object]
    mx: Sequence[Mapping[str, object]]
    complete: bool


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
    the report. A partial check (`complete` false) opens and updates
    alerts but resolves none of the check rules."""
    rules = settings.for_domain(domain)
    facts = (
        facts_from_snapshot(snapshot)
        if snapshot is not None
        else facts_from_check(report.mta_sts, report.mx, report.tlsrpt)
    )
    current = current_alerts(conn, [domain], (CHECK, CHANGE))[domain]
    active = {a.key: a for a in current if a.phase == FIRING}
    conditions = check_conditions(report.findings, facts, rules, now, EXPLANATIONS)
    conditions += change_conditions(changes, facts, active, rules, now)
    found = {c.rule for c in conditions}

    def in_scope(rule: str) -> bool:
        return report.complete or rule_source(rule) == CHANGE or rule in found

    mutes = active_mutes(conn, [domain], now).get(domain, {})
    transitions = plan(current, conditions, mutes, now, rules.cooldown, in_scope)
    return apply_transitions(conn, domain, transitions, now)


def sweep(conn: Connection, now: datetime, settings: AlertSettings) -> list[AlertEvent]:
    """The time-driven part of the lifecycle over every domain: resolves
    whose cooldown has passed are notified and settled; firing alerts whose
    mute has ended are announced."""
    candidates = sweep_candidates(conn)
    mutes = active_mutes(conn, list(candidates), now)
    events = []
    for domain, alerts in candidates.items():
        cooldown = settings.for_domain(domain).cooldown
        transitions = plan_sweep(alerts, mutes.get(domain, {}), now, cooldown)
        events += apply_transitions(conn, domain, transitions, now)
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
    domains: list[str]
    full: bool
    quarantine: bool
    marks: dict[str, int]
    top_report: int
    top_raw: int


def _targets(
    conn: Connection, now: datetime, domains: Sequence[str] | None, full_every: timedelta
) -> _Targets:
    seen = marks(conn)
    top_report, top_raw = alert_reads.last_report_pk(conn), alert_reads.last_raw_id(conn)
    if domains is not None:
        return _Targets(sorted(set(domains) - {NO_DOMAIN}), False, False, seen, 0, 0)
    epoch = int(utc(now).timestamp())
    full = epoch - seen.get("full", 0) >= full_every.total_seconds()
    open_report = domains_with_alerts(conn, REPORT)
    if full:
        names = set(alert_reads.all_domains(conn))
    else:
        names = set(alert_reads.touched_domains(conn, seen.get("reports", 0), top_report))
    names |= set(open_report)
    quarantine = (
        full or NO_DOMAIN in open_report or alert_reads.quarantined_after(conn, seen.get("raw", 0))
    )
    names.discard(NO_DOMAIN)
    return _Targets(sorted(names), full, quarantine, seen, top_report, top_raw)


def _conditions(
    conn: Connection,
    targets: _Targets,
    now: datetime,
    settings: AlertSettings,
    records: RecordReader | None,
) -> dict[str, list[Condition]]:
    plans = {d: read_plan(settings.for_domain(d), now) for d in targets.domains}
    has_record = records(conn, targets.domains) if records is not None else None
    data = alert_reads.report_data(conn, plans, has_record)
    current = current_alerts(conn, targets.domains, (REPORT,))
    out: dict[str, list[Condition]] = {}
    for domain in targets.domains:
        active = {a.key: a for a in current[domain] if a.phase == FIRING}
        out[domain] = report_conditions(data[domain], active, settings.for_domain(domain), now)
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


def _in_scope(domain: str) -> Callable[[str], bool]:
    if domain == NO_DOMAIN:
        return lambda rule: rule == QUARANTINE
    return lambda rule: rule in DOMAIN_RULES


def _apply(
    conn: Connection,
    found: dict[str, list[Condition]],
    now: datetime,
    settings: AlertSettings,
) -> list[AlertEvent]:
    current: dict[str, list[AlertState]] = current_alerts(conn, list(found), (REPORT,))
    mutes = active_mutes(conn, list(found), now)
    events = []
    for domain, conditions in found.items():
        cooldown = settings.for_domain(domain).cooldown
        transitions = plan(
            current[domain], conditions, mutes.get(domain, {}), now, cooldown, _in_scope(domain)
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
            events = _apply(conn, found, now, settings)
            events += sweep(conn, now, settings)
            if on_events is not None and events:
                on_events(conn, events)
    except _Raced:
        return Evaluation(tuple(found), [], skipped=True)
    return Evaluation(tuple(found), events)
