"""Durations as settings and the command line take them (pure): one reader
for the watch schedule, the alert settings and `tlsrpt alerts mute --for`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tlsrpt.analysis.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("6h", 21600),
        ("48h", 172800),
        ("7d", 604800),
        ("2w", 1209600),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("3600", 3600),
        ("0", 0),
        (" 6 H ", 21600),
        (45, 45),
        (0, 0),
    ],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))).total_seconds() == seconds


@pytest.mark.parametrize(
    "text", ["", "h", "6x", "5x", "-1", "-3h", "1h-", "1.5h", "6h 3", "forever", -5, True, None]
)
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(text)  # type: ignore[arg-type]


def test_format_duration() -> None:
    assert format_duration(timedelta(hours=6)) == "6h"
    assert format_duration(timedelta(hours=48)) == "2d"
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(days=1, minutes=1, seconds=5)) == "1d1m5s"
    assert format_duration(timedelta(0)) == "0"
