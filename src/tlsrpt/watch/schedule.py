"""When checks are due: the watch settings and the jittered times of next
checks (durations as users write them: `tlsrpt.analysis.durations`).
Pure: the clock and the random source are parameters."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from tlsrpt.analysis.durations import parse_duration
from tlsrpt.domains import normalize_domain

# A few domains seen for the first time are checked at once; many are
# spread out, this long apart, up to the jitter: 10,000 domains registered
# together (or a first start) do not all start at the same moment.
FIRST_SPREAD_PER_DOMAIN = dt.timedelta(milliseconds=100)


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
