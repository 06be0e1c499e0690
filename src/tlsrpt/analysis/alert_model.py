"""The values alerting passes around. Pure data, no I/O.

- `Condition`: an alert rule's condition holds for a (domain, rule,
  subject) now, with what people need to act on it;
- `AlertState`: what the lifecycle planner knows of a stored alert;
- `Transition`: one change the planner decided for an alert, with the
  notification it makes, if any;
- `AlertEvent`: a notification-worthy event as stored (the outbox of the
  notifiers is filled from these, in the same transaction).

Alert phases: `firing`; `resolving` (the condition stopped; within the
cooldown a new occurrence re-opens the same alert without notifying, after
it the resolve is notified); `resolved` (settled: nothing more happens to
it). Outside, both later phases are the state `resolved`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FIRING, RESOLVING, RESOLVED = "firing", "resolving", "resolved"
# Transition kinds.
OPEN, REOPEN, UPDATE, RESOLVE, SETTLE = "open", "reopen", "update", "resolve", "settle"
NOTIFY = "notify"  # a firing alert announced late (its mute ended)
# Notification kinds (webhook events "alert.firing" / "alert.resolved").
NOTIFY_FIRING, NOTIFY_RESOLVED = "firing", "resolved"
NO_SUBJECT = ""  # an alert about the domain as a whole
NO_DOMAIN = ""  # an alert not of one domain (the quarantine)
MAX_SUBJECT = 255  # characters; subjects come from reports (organization names)


@dataclass(frozen=True, slots=True)
class Condition:
    rule: str
    subject: str  # MX host, organization, result type ...; NO_SUBJECT for the domain
    severity: str  # error, warning, info
    summary: str  # one line
    explanation: str  # what it means
    fix: str | None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # Expiry alerts: the threshold (in days) reached. A lower level than the
    # one last notified is a re-notification of the same alert.
    level: int | None = None

    def __post_init__(self) -> None:
        if len(self.subject) > MAX_SUBJECT:  # bounded: it is part of an index key
            object.__setattr__(self, "subject", self.subject[: MAX_SUBJECT - 1] + "…")

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)


@dataclass(frozen=True, slots=True)
class AlertState:
    id: int
    rule: str
    subject: str
    phase: str
    severity: str
    summary: str
    explanation: str
    fix: str | None
    evidence: Mapping[str, Any]
    level: int | None
    notified: bool  # a firing notification went out
    notified_level: int | None  # the level it announced
    first_seen: datetime
    resolved_at: datetime | None
    events: int  # notifications made so far (the idempotency sequence)

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str  # OPEN, REOPEN, UPDATE, RESOLVE, SETTLE, NOTIFY
    rule: str
    subject: str
    alert_id: int | None  # None for OPEN
    condition: Condition | None  # the condition that holds (OPEN, REOPEN, UPDATE)
    notify: str | None = None  # NOTIFY_FIRING, NOTIFY_RESOLVED or None
    # The level to record as announced: a firing notification's level, or
    # a higher one when the level rose (so lower thresholds notify again).
    level: int | None = None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    id: int
    key: str  # idempotency key, unique
    kind: str  # NOTIFY_FIRING or NOTIFY_RESOLVED
    alert_id: int
    created_at: datetime
    alert: Mapping[str, Any]  # the alert as notified (alert JSON + explanation, fix, evidence)
    sequence: int  # the alert's notifications so far, this one included (n of `key`)

    @property
    def event(self) -> str:
        return f"alert.{self.kind}"

    @property
    def renotify(self) -> bool:
        """A firing alert notified again: only the first notification of an
        alert can announce it, so a later "firing" is a re-notification (an
        expiring certificate crossed a lower threshold)."""
        return self.kind == NOTIFY_FIRING and self.sequence > 1

    @property
    def outbox_event(self) -> str:
        """The event as the notifiers' outbox names it: "alert.firing",
        "alert.renotify" or "alert.resolved"."""
        return "alert.renotify" if self.renotify else self.event
