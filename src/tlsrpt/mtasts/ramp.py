"""The `max_age` ramp of a guided rollout, as data. Pure.

A policy starts in `testing` with a short `max_age`: senders refetch it
often, so mistakes are cheap and the reports show what `enforce` would
do (RFC 8461 §5). Once the reports are clean, `enforce` starts with a
week: a sender that cached it keeps refusing unverified delivery for at
most a week after a rollback. After a clean stretch at each step the
`max_age` grows, up to the RFC 8461 §3.2 maximum of one year, which
protects against an attacker who blocks the policy fetch for longer
(RFC 8461 §10.2). `tlsrpt mta-sts promote` moves one step at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tlsrpt.mtasts.versions import PolicyVersion
from tlsrpt.records import MAX_AGE_LIMIT, Mode

DAY = 86400


@dataclass(frozen=True, slots=True)
class RampStep:
    mode: Mode
    max_age: int  # seconds
    hold_days: int | None  # days at this step before the next one; None: the last step
    label: str


RAMP: tuple[RampStep, ...] = (
    RampStep("testing", DAY, 0, "testing, max_age 1 day"),
    RampStep("enforce", 7 * DAY, 14, "enforce, max_age 1 week"),
    RampStep("enforce", 30 * DAY, 30, "enforce, max_age 30 days"),
    RampStep("enforce", MAX_AGE_LIMIT, None, "enforce, max_age 1 year"),
)


def default_max_age(mode: Mode) -> int:
    """The `max_age` a policy of `mode` starts with: the first ramp step of
    that mode (`none`: the testing one; `rollback` computes its own)."""
    return next((s.max_age for s in RAMP if s.mode == mode), RAMP[0].max_age)


def step_index(mode: Mode, max_age: int) -> int | None:
    """The ramp step a policy is at: testing is step 0; an enforce policy is
    at the highest enforce step whose max_age it has reached (the first
    enforce step when shorter); `none` is off the ramp (None)."""
    if mode == "none":
        return None
    if mode == "testing":
        return 0
    reached = [i for i, s in enumerate(RAMP) if s.mode == "enforce" and s.max_age <= max_age]
    return reached[-1] if reached else 1


def step_since(history: Sequence[PolicyVersion]) -> datetime:
    """When the current version's ramp step began: the creation of the
    oldest version of the unbroken run, up to the current one, at the same
    step (a change of mx patterns keeps the step)."""
    current = history[-1]
    here = step_index(current.mode, current.max_age)
    since = current.created_at
    for version in reversed(history[:-1]):
        if version.mode != current.mode or step_index(version.mode, version.max_age) != here:
            break
        since = version.created_at
    return since


@dataclass(frozen=True, slots=True)
class NextStep:
    """What to do next, for people (`text`) and programs."""

    text: str
    command: str | None  # the tlsrpt command to run, or None
    not_before: datetime | None  # the earliest time it will be accepted
    max_age: int | None  # the max_age it will publish

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "command": self.command,
            "not_before": self.not_before,
            "max_age": self.max_age,
        }


def hold_until(history: Sequence[PolicyVersion]) -> datetime | None:
    """When the current step's hold ends (None without a hold: testing, the
    last step, off the ramp)."""
    current = history[-1]
    index = step_index(current.mode, current.max_age)
    hold = None if index is None else RAMP[index].hold_days
    if not hold:
        return None
    return step_since(history) + timedelta(days=hold)


def next_step(history: Sequence[PolicyVersion], now: datetime) -> NextStep:
    """The next move for the domain whose versions are `history` (oldest first)."""
    current = history[-1]
    domain = current.domain
    index = step_index(current.mode, current.max_age)
    if index is None:
        return NextStep(
            f"the policy is switched off (mode none); start again with "
            f"`tlsrpt mta-sts set {domain} --mode testing`",
            f"tlsrpt mta-sts set {domain} --mode testing",
            None,
            default_max_age("testing"),
        )
    if index + 1 >= len(RAMP):
        return NextStep(
            f"at the last step ({RAMP[index].label}): nothing more to do", None, None, None
        )
    target = RAMP[index + 1]
    until = hold_until(history)
    wait = f"on or after {until:%Y-%m-%d %H:%M} UTC, " if until and until > now else ""
    check = (
        "when the reports show no failure that enforce would turn into lost mail"
        if current.mode == "testing"
        else "while the reports stay clean"
    )
    command = f"tlsrpt mta-sts promote {domain}"
    return NextStep(
        f"{wait}{check}: `{command}` moves to {target.label}",
        command,
        until,
        target.max_age,
    )
