"""A domain's timeline: its states (distinct snapshots), newest first, each
with the changes that led to it. Pure: built from stored state rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from tlsrpt.store.watch import SnapshotRow
from tlsrpt.watch.changes import Change, diff
from tlsrpt.watch.snapshot import Snapshot, severity_counts


def iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass(frozen=True, slots=True)
class State:
    snapshot_id: int
    since: dt.datetime
    last_seen: dt.datetime
    checks: int
    snapshot: Snapshot
    changes: tuple[Change, ...]
    first: bool  # the domain's first snapshot: nothing to compare with

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "at": iso(self.since),
            "last_seen": iso(self.last_seen),
            "checks": self.checks,
            "first": self.first,
            "findings": severity_counts(self.snapshot),
            "changes": [c.to_json() for c in self.changes],
        }


def timeline(rows: Sequence[SnapshotRow], limit: int) -> list[State]:
    """At most `limit` states from `rows` (newest first, as
    `tlsrpt.store.watch.states` returns them). Give `limit + 1` rows: the
    one beyond the limit is only compared with; when there is none, the
    oldest state shown is the first."""
    snapshots = [orjson.loads(row.snapshot) for row in rows]
    states = []
    for index, row in enumerate(rows[:limit]):
        older = snapshots[index + 1] if index + 1 < len(rows) else None
        states.append(
            State(
                row.id,
                row.first_seen_at,
                row.last_seen_at,
                row.checks,
                snapshots[index],
                tuple(diff(older, snapshots[index])) if older is not None else (),
                older is None,
            )
        )
    return states
