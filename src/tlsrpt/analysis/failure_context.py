"""Failures explained with the state of the time. Pure.

A failure group is what the reports say failed on one UTC day: one result
type (RFC 8460 §4.3) at one receiving MX, with the failure-reason-codes and
the policies (RFC 8460 §4.2 `policy-type`, `policy-string`) the senders
named. `explain_failure` joins it with what was published that day: the
watcher's checks (snapshots, `tlsrpt.watch.snapshot`) whose state held
during the day, and the hosted policy versions (`tlsrpt.mtasts`) in effect
during it. The result says why, as far as that history tells
(`tlsrpt.analysis.failure_facts` holds the rules), and says so honestly
when there is no history of that day.

The generic meaning of each result type stays in `tlsrpt.analysis.explain`;
an explanation names it (`title`) and adds what was true then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tlsrpt.analysis.explain import explain
from tlsrpt.analysis.failure_facts import (
    CheckState,
    DayView,
    Fact,
    HostedVersion,
    PolicyView,
    day_bounds,
    facts_for,
)

# A check state last seen longer than this before the day says nothing of it.
MAX_GAP = dt.timedelta(days=2)


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One row of the store read: failures of one (day, result type, MX,
    failure-reason-code, policy) with their summed session count."""

    day: dt.date
    result_type: str
    mx: str | None
    reason_code: str | None
    policy_type: str | None
    policy_strings: tuple[str, ...]
    sessions: int


@dataclass(frozen=True, slots=True)
class FailureGroup:
    day: dt.date
    result_type: str
    mx: str | None
    sessions: int
    reason_codes: tuple[str, ...] = ()
    policy_types: tuple[str, ...] = ()
    policy_strings: tuple[tuple[str, ...], ...] = ()  # distinct sts policy-strings

    @property
    def key(self) -> tuple[dt.date, str, str]:
        return (self.day, self.result_type, (self.mx or "").lower())


def failure_groups(rows: Iterable[GroupRow]) -> list[FailureGroup]:
    """The rows grouped by (day, result type, MX; the MX case-insensitive),
    newest day first, then most sessions first."""
    sums: dict[tuple[dt.date, str, str], list[Any]] = {}
    for row in rows:
        key = (row.day, row.result_type, (row.mx or "").lower())
        entry = sums.setdefault(key, [row.mx, 0, {}, {}, {}])
        entry[1] += row.sessions
        if row.reason_code:
            entry[2][row.reason_code] = None
        if row.policy_type:
            entry[3][row.policy_type] = None
        if row.policy_type == "sts" and row.policy_strings:
            entry[4][row.policy_strings] = None
    groups = [
        FailureGroup(day, rtype, mx, n, tuple(sorted(codes)), tuple(sorted(types)), tuple(strings))
        for (day, rtype, _), (mx, n, codes, types, strings) in sums.items()
    ]
    groups.sort(key=lambda g: (-g.day.toordinal(), -g.sessions, g.result_type, g.mx or ""))
    return groups


@dataclass(frozen=True, slots=True)
class History:
    """What was published, for one domain: the watcher's states and the
    hosted versions, each oldest first."""

    states: Sequence[CheckState] = ()
    versions: Sequence[HostedVersion] = ()


@dataclass(frozen=True, slots=True)
class FailureExplanation:
    code: str  # the first fact's code
    text: str
    title: str  # the result type's generic title (`tlsrpt.analysis.explain`)
    checked_at: tuple[dt.datetime, ...]  # the checks (states first seen) it rests on
    policies: tuple[PolicyView, ...]  # the policies in effect that day
    facts: tuple[Fact, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "text": self.text,
            "title": self.title,
            "checked_at": list(self.checked_at),
            "policies": [p.as_dict() for p in self.policies],
            "facts": [f.as_dict() for f in self.facts],
        }


def states_on(states: Sequence[CheckState], day: dt.date) -> tuple[CheckState, ...]:
    """The states that held during `day`: the one in effect when it began
    (unless last seen more than `MAX_GAP` before) and any first seen in it."""
    start, end = day_bounds(day)
    before = [s for s in states if s.first_seen <= start]
    during = [s for s in states if start < s.first_seen < end]
    held = before[-1] if before and before[-1].last_seen >= start - MAX_GAP else None
    return ((held,) if held is not None else ()) + tuple(during)


def versions_on(versions: Sequence[HostedVersion], day: dt.date) -> list[HostedVersion]:
    """The hosted versions in effect during `day`: the current one when it
    began and any made during it."""
    start, end = day_bounds(day)
    before = [v for v in versions if v.created_at <= start]
    during = [v for v in versions if start < v.created_at < end]
    return ([before[-1]] if before else []) + during


def latest_before(states: Sequence[CheckState], day: dt.date) -> CheckState | None:
    start, _ = day_bounds(day)
    earlier = [s for s in states if s.first_seen < start]
    return earlier[-1] if earlier else None


def explain_failure(group: FailureGroup, history: History) -> FailureExplanation:
    """Why the group's sessions failed, as far as the history of that day
    tells (see the module docstring)."""
    states = states_on(history.states, group.day)
    versions = versions_on(history.versions, group.day)
    view = DayView(
        group.day,
        states,
        versions,
        history.versions,
        history.states,
        latest_before(history.states, group.day) if not states else None,
    )
    facts = facts_for(
        group.result_type,
        group.mx,
        group.policy_types,
        group.reason_codes,
        group.policy_strings,
        view,
    )
    sts_related = not group.policy_types or "sts" in group.policy_types
    policies = view.policies() if sts_related else ()
    return FailureExplanation(
        facts[0].code,
        "; ".join(f.text for f in facts),
        explain(group.result_type).title,
        tuple(s.first_seen for s in states),
        tuple(policies),
        tuple(facts),
    )


def explain_groups(
    groups: Iterable[FailureGroup], history: History
) -> list[tuple[FailureGroup, FailureExplanation]]:
    return [(g, explain_failure(g, history)) for g in groups]
