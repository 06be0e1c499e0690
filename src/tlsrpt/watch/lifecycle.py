"""The alert lifecycle: a pure planner from (the alerts of a domain, the
conditions that hold now, its mutes, the time) to transitions and the
notifications they make. `tlsrpt.store.alerts.apply_transitions` carries
them out.

One alert per (domain, rule, subject) at a time:

- a condition that holds and has no firing alert opens one, notified
  ("firing");
- while it holds, the alert is updated (last seen, summary, evidence,
  level) without a notification, except when its level falls below the
  level last notified (an expiring certificate crossing 30, 14, 7, 1 days
  left): that re-notifies ("firing" again, with the new level);
- when it stops holding the alert is resolved at once (state `resolved`),
  but the "resolved" notification waits for the `cooldown`: if the
  condition holds again within it, the same alert fires again and nobody
  is notified at all (a flapping MX makes neither a flood nor a "resolved"
  that is not true); after the cooldown the resolve is notified (only when
  its firing was) and the alert is settled; the next occurrence is a new
  alert;
- a muted rule (domain, rule, until) holds notifications back, not state:
  its alerts open and resolve as usual; when the mute ends, an alert still
  firing that was never announced is announced, and an alert announced
  before the mute that resolved meanwhile gets its "resolved".

Only the alerts of rules `in_scope` are resolved when no condition names
them: the rules that were evaluated (a partial check resolves nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from tlsrpt.analysis.alert_model import (
    FIRING,
    NOTIFY,
    NOTIFY_FIRING,
    NOTIFY_RESOLVED,
    OPEN,
    REOPEN,
    RESOLVE,
    RESOLVING,
    SETTLE,
    UPDATE,
    AlertState,
    Condition,
    Transition,
)
from tlsrpt.analysis.alerts import utc

Mutes = Mapping[str, datetime]  # rule -> muted until


def is_muted(mutes: Mutes, rule: str, now: datetime) -> bool:
    until = mutes.get(rule)
    return until is not None and utc(until) > utc(now)


def firing_due(
    notified: bool, notified_level: int | None, level: int | None, muted: bool
) -> str | None:
    """Whether a firing alert is to be notified now: never announced, or
    its level fell below the one announced."""
    if muted:
        return None
    if not notified:
        return NOTIFY_FIRING
    if level is not None and notified_level is not None and level < notified_level:
        return NOTIFY_FIRING
    return None


def _rearmed(alert: AlertState, condition: Condition) -> bool:
    """The level rose above the one announced (a renewed certificate that
    still expires soon): crossing the lower thresholds notifies again."""
    return (
        alert.notified
        and condition.level is not None
        and alert.notified_level is not None
        and condition.level > alert.notified_level
    )


def _settle(
    alert: AlertState, mutes: Mutes, now: datetime, cooldown: timedelta
) -> Transition | None:
    """A resolving alert past its cooldown is settled, with its "resolved"
    notification if its firing was announced (held back while muted)."""
    assert alert.resolved_at is not None
    if utc(alert.resolved_at) + cooldown > utc(now):
        return None
    if alert.notified:
        if is_muted(mutes, alert.rule, now):
            return None
        return Transition(SETTLE, alert.rule, alert.subject, alert.id, None, NOTIFY_RESOLVED)
    return Transition(SETTLE, alert.rule, alert.subject, alert.id, None)


def _reopenable(
    alerts: Iterable[AlertState], now: datetime, cooldown: timedelta
) -> dict[tuple[str, str], AlertState]:
    """Per key, the latest alert resolved within the cooldown."""
    found: dict[tuple[str, str], AlertState] = {}
    for alert in alerts:
        assert alert.resolved_at is not None
        if utc(alert.resolved_at) + cooldown <= utc(now):
            continue
        known = found.get(alert.key)
        if known is None or utc(known.resolved_at or now) < utc(alert.resolved_at):
            found[alert.key] = alert
    return found


def plan(
    current: Sequence[AlertState],
    conditions: Sequence[Condition],
    mutes: Mutes,
    now: datetime,
    cooldown: timedelta,
    in_scope: Callable[[str], bool] = lambda _rule: True,
) -> list[Transition]:
    """The transitions of one domain's alerts after an evaluation.

    `current`: the domain's firing and resolving alerts (at least those of
    the rules in scope); `conditions`: what holds now."""
    firing = {a.key: a for a in current if a.phase == FIRING}
    resolving = [a for a in current if a.phase == RESOLVING and in_scope(a.rule)]
    reopen = _reopenable(resolving, now, cooldown)
    holding: dict[tuple[str, str], Condition] = {}
    for condition in conditions:
        holding.setdefault(condition.key, condition)
    out: list[Transition] = []
    reopened = set()
    for key, condition in holding.items():
        muted = is_muted(mutes, condition.rule, now)
        alert = firing.get(key) or reopen.get(key)
        if alert is None:
            notify = None if muted else NOTIFY_FIRING
            out.append(Transition(OPEN, *key, None, condition, notify, condition.level))
            continue
        notify = firing_due(alert.notified, alert.notified_level, condition.level, muted)
        kind = UPDATE if alert.phase == FIRING else REOPEN
        reopened.add(alert.id)
        level = condition.level if notify or _rearmed(alert, condition) else None
        out.append(Transition(kind, *key, alert.id, condition, notify, level))
    settles = [
        t
        for a in resolving
        if a.id not in reopened and (t := _settle(a, mutes, now, cooldown)) is not None
    ]
    for key, alert in firing.items():
        if key in holding or not in_scope(alert.rule):
            continue
        out.append(Transition(RESOLVE, *key, alert.id, None))
        resolved = _with_resolved_at(alert, now)
        settle = _settle(resolved, mutes, now, cooldown)
        out += [settle] if settle is not None else []
    return settles + out


def _with_resolved_at(alert: AlertState, now: datetime) -> AlertState:
    return replace(alert, phase=RESOLVING, resolved_at=now)


def plan_sweep(
    current: Sequence[AlertState], mutes: Mutes, now: datetime, cooldown: timedelta
) -> list[Transition]:
    """Time alone: settle resolving alerts past their cooldown (notifying
    the resolve), and announce firing alerts whose mute has ended."""
    out = []
    for alert in current:
        if alert.phase == RESOLVING:
            settle = _settle(alert, mutes, now, cooldown)
            out += [settle] if settle is not None else []
        elif alert.phase == FIRING:
            notify = firing_due(
                alert.notified, alert.notified_level, alert.level, is_muted(mutes, alert.rule, now)
            )
            if notify is not None:
                out.append(
                    Transition(
                        NOTIFY, alert.rule, alert.subject, alert.id, None, notify, alert.level
                    )
                )
    return out
