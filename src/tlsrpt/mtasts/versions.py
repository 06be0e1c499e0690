"""Versions of a hosted MTA-STS policy (RFC 8461 §3.2) and their ids
(RFC 8461 §3.1). Pure.

Every change of a hosted policy is a new `PolicyVersion`, numbered from 1
per domain, with a new policy id and the policy text as served, byte for
byte (generated once, with CRLF line ends, and stored).

Policy ids: `YYYYMMDDTHHMMSSZ` (the version's creation time, UTC) followed
by the version number, e.g. `20261207T120000Z1` for version 1 created at
2026-12-07 12:00:00 UTC. Letters and digits only, 17 to 32 characters (RFC
8461 §3.1: 1*32(ALPHA / DIGIT)). The version number makes every id of a
domain distinct even when two versions are made within one second or the
clock steps back; the time tells a person when the policy was published.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tlsrpt.records import MAX_AGE_LIMIT, Mode, generate_sts_policy, mx_pattern_error

MODES: tuple[Mode, ...] = ("testing", "enforce", "none")
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")  # RFC 8461 §3.1 sts-id


class PolicyError(ValueError):
    """A policy change that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One stored version of a domain's hosted policy. `created_at` is UTC
    (timezone-aware); `text` is exactly what is served."""

    domain: str
    version: int
    mode: Mode
    mx: tuple[str, ...]
    max_age: int
    id: str
    text: str
    created_at: datetime
    created_by: str
    note: str = ""

    def policy_dict(self) -> dict[str, object]:
        """The `policy` object of the `--json` output."""
        return {
            "mode": self.mode,
            "mx": list(self.mx),
            "max_age": self.max_age,
            "id": self.id,
            "text": self.text,
            "version": self.version,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "note": self.note,
        }


def utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def policy_id(created_at: datetime, version: int) -> str:
    """The id of version `version` created at `created_at` (see module doc)."""
    if version < 1:
        raise PolicyError(f"version numbers start at 1, not {version}")
    value = f"{utc(created_at):%Y%m%dT%H%M%S}Z{version}"
    if not _ID.match(value):  # only a version beyond 10**16 could do this
        raise PolicyError(f"policy id {value!r} would not be 1-32 letters and digits")
    return value


def check_mx(patterns: Sequence[str]) -> tuple[str, ...]:
    """The patterns, lower-cased and checked (RFC 8461 §3.2: `["*."] Domain`
    as RFC 5321 writes it); a trailing dot is dropped, a duplicate refused."""
    out: list[str] = []
    for raw in patterns:
        pattern = raw.strip().lower()
        pattern = pattern[:-1] if pattern.endswith(".") and len(pattern) > 1 else pattern
        error = mx_pattern_error(pattern)
        if error:
            raise PolicyError(f"mx {raw!r}: {error}")
        if pattern in out:
            raise PolicyError(f"mx {pattern!r} is given twice")
        out.append(pattern)
    return tuple(out)


def check_max_age(max_age: int) -> int:
    """RFC 8461 §3.2: max_age is at most 31557600 seconds (one year)."""
    if not 0 <= max_age <= MAX_AGE_LIMIT:
        raise PolicyError(f"max_age {max_age} must be from 0 to {MAX_AGE_LIMIT} seconds (a year)")
    return max_age


@dataclass(frozen=True, slots=True)
class Change:
    """What a new version is: mode, patterns and max_age, and why."""

    mode: Mode
    mx: tuple[str, ...]
    max_age: int
    note: str = ""


def new_version(
    domain: str,
    history: Sequence[PolicyVersion],
    change: Change,
    *,
    now: datetime,
    created_by: str,
) -> PolicyVersion:
    """The version that follows `history` (oldest first; empty for the
    first one) with `change` applied: a new number, a new id, its text."""
    if change.mode not in MODES:
        raise PolicyError(f"mode {change.mode!r} must be testing, enforce or none")
    mx = check_mx(change.mx)
    max_age = check_max_age(change.max_age)
    if not mx and change.mode != "none":
        raise PolicyError("a policy needs at least one mx pattern unless its mode is none")
    number = history[-1].version + 1 if history else 1
    try:
        text = generate_sts_policy(change.mode, mx, max_age)  # RFC 8461 §3.2, CRLF lines
    except ValueError as exc:
        raise PolicyError(str(exc)) from None
    return PolicyVersion(
        domain=domain,
        version=number,
        mode=change.mode,
        mx=mx,
        max_age=max_age,
        id=policy_id(now, number),
        text=text,
        created_at=utc(now),
        created_by=created_by,
        note=change.note,
    )


def edit_mx(
    current: Sequence[str],
    *,
    replace: Sequence[str] | None = None,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> tuple[str, ...]:
    """The patterns after `set --mx` (replace all), `--add-mx`, `--remove-mx`."""
    if replace is not None and (add or remove):
        raise PolicyError("--mx replaces every pattern: give it alone, or --add-mx/--remove-mx")
    if replace is not None:
        return check_mx(replace)
    patterns = list(current)
    for pattern in check_mx(remove):
        if pattern not in patterns:
            raise PolicyError(f"mx {pattern!r} is not in the policy (it has: {', '.join(current)})")
        patterns.remove(pattern)
    for pattern in check_mx(add):
        if pattern in patterns:
            raise PolicyError(f"mx {pattern!r} is already in the policy")
        patterns.append(pattern)
    return tuple(patterns)
