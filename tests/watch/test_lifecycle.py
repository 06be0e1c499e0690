"""The alert lifecycle planner: open, dedupe, resolve, flapping within the
cooldown, mutes, re-notification on level crossings, scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tlsrpt.analysis.alert_model import (
    NOTIFY,
    OPEN,
    REOPEN,
    RESOLVE,
    SETTLE,
    UPDATE,
    AlertState,
    Condition,
    Transition,
)
from tlsrpt.watch.lifecycle import firing_due, is_muted, plan, plan_sweep

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
COOLDOWN = timedelta(hours=2)


def cond(
    rule: str = "sts-policy-fetch-failed",
    subject: str = "mta-sts.example.com",
    level: int | None = None,
) -> Condition:
    return Condition(rule, subject, "error", f"{rule} holds", "why", "fix", {"n": 1}, level)


def alert(
    rule: str = "sts-policy-fetch-failed",
    subject: str = "mta-sts.example.com",
    phase: str = "firing",
    **changes: Any,
) -> AlertState:
    values: dict[str, Any] = {
        "id": 7,
        "rule": rule,
        "subject": subject,
        "phase": phase,
        "severity": "error",
        "summary": "s",
        "explanation": "e",
        "fix": None,
        "evidence": {},
        "level": None,
        "notified": True,
        "notified_level": None,
        "first_seen": NOW - timedelta(days=1),
        "resolved_at": None,
        "events": 1,
    }
    values.update(changes)
    return AlertState(**values)


def kinds(transitions: list[Transition]) -> list[tuple[str, str | None]]:
    return [(t.kind, t.notify) for t in transitions]


def test_a_new_condition_opens_an_alert_and_notifies() -> None:
    (t,) = plan([], [cond()], {}, NOW, COOLDOWN)
    assert (t.kind, t.notify, t.alert_id) == (OPEN, "firing", None)
    assert (t.rule, t.subject) == ("sts-policy-fetch-failed", "mta-sts.example.com")
    assert t.condition == cond()


def test_a_condition_that_still_holds_updates_without_notifying() -> None:
    (t,) = plan([alert()], [cond()], {}, NOW, COOLDOWN)
    assert (t.kind, t.notify, t.alert_id) == (UPDATE, None, 7)


def test_duplicate_conditions_are_one_alert() -> None:
    assert kinds(plan([], [cond(), cond()], {}, NOW, COOLDOWN)) == [(OPEN, "firing")]
    other = plan([], [cond(), cond(subject="mx2.example.com")], {}, NOW, COOLDOWN)
    assert kinds(other) == [(OPEN, "firing"), (OPEN, "firing")]


def test_a_condition_that_stops_resolves_and_the_notification_waits_for_the_cooldown() -> None:
    (t,) = plan([alert()], [], {}, NOW, COOLDOWN)
    assert (t.kind, t.notify, t.alert_id) == (RESOLVE, None, 7)
    pending = alert(phase="resolving", resolved_at=NOW - timedelta(minutes=30))
    assert plan([pending], [], {}, NOW, COOLDOWN) == []
    due = alert(phase="resolving", resolved_at=NOW - COOLDOWN)
    (t,) = plan([due], [], {}, NOW, COOLDOWN)
    assert (t.kind, t.notify, t.alert_id) == (SETTLE, "resolved", 7)


def test_without_a_cooldown_the_resolve_is_notified_at_once() -> None:
    assert kinds(plan([alert()], [], {}, NOW, timedelta(0))) == [
        (RESOLVE, None),
        (SETTLE, "resolved"),
    ]


def test_flapping_within_the_cooldown_reopens_the_same_alert_silently() -> None:
    resolving = alert(phase="resolving", resolved_at=NOW - timedelta(minutes=90))
    (t,) = plan([resolving], [cond()], {}, NOW, COOLDOWN)
    assert (t.kind, t.notify, t.alert_id) == (REOPEN, None, 7)


def test_an_occurrence_after_the_cooldown_is_a_new_alert_after_the_old_ones_resolve() -> None:
    old = alert(phase="resolving", resolved_at=NOW - timedelta(hours=3))
    transitions = plan([old], [cond()], {}, NOW, COOLDOWN)
    assert kinds(transitions) == [(SETTLE, "resolved"), (OPEN, "firing")]
    assert transitions[0].alert_id == 7


def test_a_resolve_that_was_never_announced_is_not_notified() -> None:
    unannounced = alert(phase="resolving", resolved_at=NOW - timedelta(hours=3), notified=False)
    assert kinds(plan([unannounced], [], {}, NOW, COOLDOWN)) == [(SETTLE, None)]


def test_a_muted_rule_opens_without_notifying() -> None:
    mutes = {"sts-policy-fetch-failed": NOW + timedelta(days=7)}
    (t,) = plan([], [cond()], mutes, NOW, COOLDOWN)
    assert (t.kind, t.notify) == (OPEN, None)
    other = plan([], [cond(rule="mx-certificate-expired")], mutes, NOW, COOLDOWN)
    assert kinds(other) == [(OPEN, "firing")]


def test_when_the_mute_ends_a_firing_alert_is_announced() -> None:
    unannounced = alert(notified=False)
    ended = {"sts-policy-fetch-failed": NOW - timedelta(minutes=1)}
    assert not is_muted(ended, "sts-policy-fetch-failed", NOW)
    (t,) = plan([unannounced], [cond()], ended, NOW, COOLDOWN)
    assert (t.kind, t.notify) == (UPDATE, "firing")
    (swept,) = plan_sweep([unannounced], ended, NOW, COOLDOWN)
    assert (swept.kind, swept.notify, swept.alert_id) == (NOTIFY, "firing", 7)
    still = {"sts-policy-fetch-failed": NOW + timedelta(hours=1)}
    assert plan_sweep([unannounced], still, NOW, COOLDOWN) == []


def test_a_resolve_of_an_announced_alert_waits_out_the_mute() -> None:
    resolved = alert(phase="resolving", resolved_at=NOW - timedelta(days=2))
    muted = {"sts-policy-fetch-failed": NOW + timedelta(hours=1)}
    assert plan([resolved], [], muted, NOW, COOLDOWN) == []
    assert plan_sweep([resolved], muted, NOW, COOLDOWN) == []
    (t,) = plan_sweep([resolved], {}, NOW, COOLDOWN)
    assert (t.kind, t.notify) == (SETTLE, "resolved")


def test_expiry_crossing_a_lower_threshold_renotifies() -> None:
    firing = alert(rule="mx-certificate-expiring", subject="mx1", level=30, notified_level=30)
    (same,) = plan([firing], [cond("mx-certificate-expiring", "mx1", 30)], {}, NOW, COOLDOWN)
    assert (same.kind, same.notify, same.level) == (UPDATE, None, None)
    (crossed,) = plan([firing], [cond("mx-certificate-expiring", "mx1", 14)], {}, NOW, COOLDOWN)
    assert (crossed.kind, crossed.notify, crossed.level) == (UPDATE, "firing", 14)
    muted = {"mx-certificate-expiring": NOW + timedelta(days=1)}
    (held,) = plan([firing], [cond("mx-certificate-expiring", "mx1", 7)], muted, NOW, COOLDOWN)
    assert held.notify is None


def test_a_level_that_rises_rearms_the_lower_thresholds() -> None:
    # Renewed, but the new certificate expires within 30 days too.
    firing = alert(rule="mx-certificate-expiring", subject="mx1", level=7, notified_level=7)
    (t,) = plan([firing], [cond("mx-certificate-expiring", "mx1", 30)], {}, NOW, COOLDOWN)
    assert (t.kind, t.notify, t.level) == (UPDATE, None, 30)
    rearmed = alert(rule="mx-certificate-expiring", subject="mx1", level=30, notified_level=30)
    (again,) = plan([rearmed], [cond("mx-certificate-expiring", "mx1", 14)], {}, NOW, COOLDOWN)
    assert again.notify == "firing"


def test_firing_due() -> None:
    assert firing_due(False, None, None, muted=False) == "firing"
    assert firing_due(False, None, None, muted=True) is None
    assert firing_due(True, None, None, muted=False) is None
    assert firing_due(True, 30, 7, muted=False) == "firing"
    assert firing_due(True, 7, 30, muted=False) is None


def test_only_rules_in_scope_resolve() -> None:
    current = [alert(), alert(rule="mx-certificate-expired", subject="mx1")]
    transitions = plan(
        current, [], {}, NOW, COOLDOWN, in_scope=lambda rule: rule == "mx-certificate-expired"
    )
    assert [(t.kind, t.rule) for t in transitions] == [(RESOLVE, "mx-certificate-expired")]
    out_of_scope = alert(phase="resolving", resolved_at=NOW - timedelta(days=1))
    assert plan([out_of_scope], [], {}, NOW, COOLDOWN, in_scope=lambda _r: False) == []
