"""Guided rollout decisions: promote one ramp step when the reports say it
is safe, roll back to `mode: none`. Pure: the readiness verdict and the
clock are given.

Promotion (testing -> enforce, then up the `max_age` ramp) is allowed
when every check passes:
- `mode`: the policy is on the ramp (not `none`, which `set --mode
  testing` leaves) and not at its last step;
- `hold`: the current step has been published for its hold time
  (`tlsrpt.mtasts.ramp.RAMP`);
- the readiness verdict as of `now`'s UTC day (the one the dashboard, the
  API and `tlsrpt summary` show: `tlsrpt.store.readiness_reads`) is
  `ready`; its failed checks are the reasons otherwise.
`force` overrides `hold` and readiness (never `mode`), and the override is
written on the new version's note.

Rollback (RFC 8461 §8.3, removing MTA-STS): a new version with `mode:
none`, a new id and a `max_age` at least as long as any version published
before, so every sender that cached an older policy has seen it expire
when the records are removed: not before now + that `max_age`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tlsrpt.analysis.readiness import Readiness, Verdict
from tlsrpt.mtasts.ramp import RAMP, hold_until, step_index, step_since
from tlsrpt.mtasts.versions import Change, PolicyVersion, utc


@dataclass(frozen=True, slots=True)
class Check:
    check: str  # mode, hold, or a readiness check (days, sessions, failure-rate, ...)
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "text": self.text}


@dataclass(frozen=True, slots=True)
class Promotion:
    """The decision. `change` is the version to publish when `allowed`."""

    allowed: bool
    forced: bool
    change: Change | None
    blockers: tuple[Check, ...]  # what refused it (or, when forced, what was overridden)
    readiness: Readiness | None
    last_step: bool = False
    from_step: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "forced": self.forced,
            "last_step": self.last_step,
            "from": self.from_step,
            "to": (
                {"mode": self.change.mode, "max_age": self.change.max_age} if self.change else None
            ),
            "reasons": [b.as_dict() for b in self.blockers],
            "readiness": self.readiness.as_dict() if self.readiness else None,
        }


def plan_promotion(
    history: Sequence[PolicyVersion],
    readiness: Readiness | None,
    now: datetime,
    *,
    force: bool = False,
) -> Promotion:
    """Whether the domain of `history` (oldest first) may move one ramp step
    now, and to what. `readiness` may be None only when the policy is off the
    ramp or at its last step (it is not needed then)."""
    current = history[-1]
    index = step_index(current.mode, current.max_age)
    origin: dict[str, object] = {"mode": current.mode, "max_age": current.max_age, "id": current.id}
    if index is None:
        text = "the policy is switched off (mode none): `set --mode testing` starts the ramp again"
        return Promotion(False, False, None, (Check("mode", text),), readiness, False, origin)
    if index + 1 >= len(RAMP):
        return Promotion(False, False, None, (), readiness, True, origin)
    if readiness is None:
        raise ValueError("promotion needs the readiness verdict")
    blockers: list[Check] = []
    until = hold_until(history)
    if until is not None and utc(now) < until:
        blockers.append(
            Check(
                "hold",
                f"{RAMP[index].label} since {step_since(history):%Y-%m-%d %H:%M} UTC "
                f"needs {RAMP[index].hold_days} days before the next step: "
                f"not before {until:%Y-%m-%d %H:%M} UTC",
            )
        )
    if readiness.verdict != Verdict.READY:
        blockers.append(Check("verdict", f"enforce readiness: {readiness.verdict}"))
        blockers.extend(Check(r.check, r.text) for r in readiness.problems)
    target = RAMP[index + 1]
    if blockers and not force:
        return Promotion(False, False, None, tuple(blockers), readiness, False, origin)
    note = f"promote from {RAMP[index].label} to {target.label}"
    if blockers:
        note = "promote --force: " + "; ".join(b.text for b in blockers)
    change = Change(target.mode, current.mx, target.max_age, note)
    return Promotion(True, bool(blockers), change, tuple(blockers), readiness, False, origin)


@dataclass(frozen=True, slots=True)
class Rollback:
    change: Change | None  # None: already rolled back, nothing to publish
    remove_after: datetime  # when the records may be removed

    def as_dict(self) -> dict[str, object]:
        return {"published": self.change is not None, "remove_records_after": self.remove_after}


def plan_rollback(history: Sequence[PolicyVersion], now: datetime) -> Rollback:
    """`mode: none` with the longest max_age ever published (RFC 8461 §8.3);
    when the policy is already off, when its records may go."""
    current = history[-1]
    if current.mode == "none":
        start = current
        for version in reversed(history[:-1]):
            if version.mode != "none":
                break
            start = version
        return Rollback(None, start.created_at + timedelta(seconds=start.max_age))
    longest = max(v.max_age for v in history)
    note = f"rollback from {current.mode} (max_age {current.max_age}); longest max_age {longest}"
    change = Change("none", current.mx, longest, note)
    return Rollback(change, utc(now) + timedelta(seconds=longest))
