"""Durations as people write them in settings and on the command line:
`90s`, `30m`, `6h`, `7d`, `2w`, `1h30m` (spaces between the parts are
allowed), or a number of seconds; `0` is a duration too (what it means is
up to the setting: `watch_interval = "0"` switches watching off). Pure."""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:\d+[wdhms])+")
_PART = re.compile(r"(\d+)([wdhms])")


def parse_duration(text: str | int) -> timedelta:
    """The duration `text` names; ValueError naming the text when it names none."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"{text!r} is not a duration")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text} is negative: a duration is 0 or more")
        return timedelta(seconds=text)
    value = "".join(text.split()).lower()
    if value.isdigit():
        return timedelta(seconds=int(value))
    if not _DURATION.fullmatch(value):
        raise ValueError(
            f"{text!r} is not a duration (write e.g. 90s, 30m, 6h, 7d, 2w, 1h30m or 0)"
        )
    return timedelta(seconds=sum(int(n) * UNITS[unit] for n, unit in _PART.findall(value)))


def format_duration(delta: timedelta) -> str:
    """The shortest form `parse_duration` reads back: 172800 s -> "2d", 0 -> "0"."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = UNITS[unit]
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)
