"""When checks are due: durations as users write them, the watch settings,
and the jittered times of next checks. Pure: the clock and the random
source are parameters."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tlsrpt.domains import normalize_domain

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")

# A few domains seen for the first time are checked at once; many are
# spread out, this long apart, up to the jitter: 10,000 domains registered
# together (or a first start) do not all start at the same moment.
FIRST_SPREAD_PER_DOMAIN = dt.timedelta(milliseconds=100)


def parse_duration(text: str | int) -> dt.timedelta:
    """`"6h"`, `"30m"`, `"7d"`, `"1h30m"`, `"90s"`, `"2w"`, a number of
    seconds, or `"0"`. Raises ValueError naming the text."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text} is negative: a duration is 0 or more")
        return dt.timedelta(seconds=text)
    value = str(text).strip().lower().replace(" ", "")
    if value.isdigit():
        return dt.timedelta(seconds=int(value))
    seconds = 0
    position = 0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not value or position != len(value):
        raise ValueError(f"{text!r} is not a duration (write e.g. 90s, 30m, 6h, 7d, 1h30m or 0)")
    return dt.timedelta(seconds=seconds)


def format_duration(delta: dt.timedelta) -> str:
    """The shortest of parse_duration's forms: 21600 s -> "6h"."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """The schedule of a watcher (settings `watch_*`)."""

    interval: dt.timedelta = dt.timedelta(hours=6)  # 0: no scheduled checks
    jitter: dt.timedelta = dt.timedelta(minutes=10)
    keepalive: dt.timedelta = dt.timedelta(days=7)
    lease: dt.timedelta = dt.timedelta(minutes=10)
    # Per-domain interval overrides; a zero interval: the domain is not watched.
    intervals: Mapping[str, dt.timedelta] = field(default_factory=dict)
    poll: dt.timedelta = dt.timedelta(seconds=30)  # longest sleep of an idle watcher

    def __post_init__(self) -> None:
        for name in ("jitter", "keepalive", "lease"):
            if getattr(self, name) < dt.timedelta(0):
                raise ValueError(f"watch_{name} must not be negative")
        if self.lease < dt.timedelta(seconds=1):
            raise ValueError("watch_lease must be at least 1 s")
        if self.keepalive < dt.timedelta(seconds=1):
            raise ValueError("watch_keepalive must be at least 1 s")

    @classmethod
    def from_settings(
        cls,
        interval: str | int,
        jitter: str | int,
        keepalive: str | int,
        lease: str | int,
        intervals: Mapping[str, str | int] | None = None,
    ) -> WatchConfig:
        """Raises ValueError naming the setting that is wrong."""
        values = {}
        for name, text in (
            ("interval", interval),
            ("jitter", jitter),
            ("keepalive", keepalive),
            ("lease", lease),
        ):
            try:
                values[name] = parse_duration(text)
            except ValueError as exc:
                raise ValueError(f"watch_{name}: {exc}") from None
        overrides = {}
        for domain, text in (intervals or {}).items():
            try:
                overrides[normalize_domain(domain)] = parse_duration(text)
            except ValueError as exc:
                raise ValueError(f"watch_intervals.{domain}: {exc}") from None
        return cls(intervals=overrides, **values)

    @property
    def enabled(self) -> bool:
        return self.interval > dt.timedelta(0)

    def interval_for(self, domain: str) -> dt.timedelta:
        return self.intervals.get(domain, self.interval)

    def override_seconds(self) -> dict[str, int]:
        """The overrides as the schedule table stores them."""
        return {d: int(i.total_seconds()) for d, i in self.intervals.items()}

    def next_due(self, domain: str, now: dt.datetime, rng: random.Random) -> dt.datetime:
        """After a check at `now`: the interval plus a random part of the jitter,
        so domains checked together drift apart instead of staying in step."""
        interval = self.interval_for(domain) or self.interval or dt.timedelta(hours=6)
        return now + interval + self.jitter * rng.random()

    def first_due(self, now: dt.datetime, count: int, rng: random.Random) -> list[dt.datetime]:
        """When `count` domains seen for the first time are first due: spread
        over `count` x 0.1 s, at most over the jitter."""
        spread = min(self.jitter, FIRST_SPREAD_PER_DOMAIN * count)
        return [now + spread * rng.random() for _ in range(count)]
