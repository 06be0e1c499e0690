"""Where a domain is in its guided rollout, and what comes next. Pure.

`rollout_status` puts together the decisions `tlsrpt mta-sts` makes
(`ramp.next_step`, `rollout.plan_promotion`, `rollout.plan_rollback`,
`publish.expected_records`) for a reader that only shows them, such as
the dashboard's domain page: the stage (not hosted, testing, an enforce
step of the `max_age` ramp, rolled back), the ramp with the current step
marked, the records to publish, whether `promote` would be allowed now
and why not, and when a rolled-back domain may remove its records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tlsrpt.analysis.readiness import Readiness
from tlsrpt.mtasts.publish import DnsRecord, PublishSettings, expected_records, publish_notes
from tlsrpt.mtasts.ramp import RAMP, NextStep, default_max_age, next_step, step_index
from tlsrpt.mtasts.rollout import Promotion, plan_promotion, plan_rollback
from tlsrpt.mtasts.versions import PolicyVersion

NOT_HOSTED, TESTING, ENFORCE, ROLLED_BACK = "not-hosted", "testing", "enforce", "rolled-back"


@dataclass(frozen=True, slots=True)
class StepView:
    label: str
    mode: str
    max_age: int
    state: str  # "done", "current", "next" or "later"

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "mode": self.mode,
            "max_age": self.max_age,
            "state": self.state,
        }


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    domain: str
    stage: str  # NOT_HOSTED, TESTING, ENFORCE or ROLLED_BACK
    steps: tuple[StepView, ...]
    current: PolicyVersion | None
    records: tuple[DnsRecord, ...]
    notes: tuple[str, ...]
    next: NextStep
    promotion: Promotion | None  # None: nothing hosted yet
    rollback_command: str | None  # None: nothing to roll back
    remove_after: datetime | None  # rolled back: when the records may be removed

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "stage": self.stage,
            "steps": [s.as_dict() for s in self.steps],
            "policy": self.current.policy_dict() if self.current else None,
            "records": [r.as_dict() for r in self.records],
            "notes": list(self.notes),
            "next_step": self.next.as_dict(),
            "promotion": self.promotion.as_dict() if self.promotion else None,
            "rollback_command": self.rollback_command,
            "remove_records_after": self.remove_after,
        }


def _steps(index: int | None) -> tuple[StepView, ...]:
    def state(i: int) -> str:
        if index is None:
            return "later"
        if i < index:
            return "done"
        if i == index:
            return "current"
        return "next" if i == index + 1 else "later"

    return tuple(StepView(s.label, s.mode, s.max_age, state(i)) for i, s in enumerate(RAMP))


def _not_hosted(domain: str, settings: PublishSettings) -> RolloutStatus:
    command = f"tlsrpt mta-sts init {domain}"
    step = NextStep(
        f"host a testing policy built from the domain's MX hosts: `{command}` "
        "(it prints the records to publish)",
        command,
        None,
        default_max_age("testing"),
    )
    notes = tuple(publish_notes(domain, settings))
    return RolloutStatus(domain, NOT_HOSTED, _steps(None), None, (), notes, step, None, None, None)


def rollout_status(
    domain: str,
    history: Sequence[PolicyVersion],
    readiness: Readiness,
    now: datetime,
    settings: PublishSettings,
) -> RolloutStatus:
    """The rollout state of `domain` whose hosted versions are `history`
    (oldest first; empty when not hosted), with `readiness` the verdict as
    of `now`'s day (the one `tlsrpt mta-sts promote` asks)."""
    if not history:
        return _not_hosted(domain, settings)
    current = history[-1]
    index = step_index(current.mode, current.max_age)
    stage = ROLLED_BACK if index is None else TESTING if index == 0 else ENFORCE
    rollback = plan_rollback(history, now)
    return RolloutStatus(
        domain,
        stage,
        _steps(index),
        current,
        tuple(expected_records(domain, current, settings)),
        tuple(publish_notes(domain, settings)),
        next_step(history, now),
        plan_promotion(history, readiness, now),
        None if rollback.change is None else f"tlsrpt mta-sts rollback {domain}",
        rollback.remove_after if rollback.change is None else None,
    )
