"""Chart geometry for the dashboard's server-rendered SVG charts. Pure.

Why SVG drawn on the server rather than a JavaScript charting library: the
pages then run no script at all (the Content-Security-Policy forbids every
script, so a hostile string in a report cannot execute even if some
escaping were missed), work offline and on any phone, are readable by
screen readers through `<title>` elements and a data table beside each
chart, and the numbers drawn can be tested exactly. The templates
(`templates/_charts.html`) turn these shapes into SVG elements, with
Jinja2 autoescaping every text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tlsrpt.analysis.period import DailyPoint

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 8, 28


def nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at least `value` (>= 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Bar:
    day: str
    x: float
    width: float
    successful: int | None
    failed: int | None
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float

    @property
    def label(self) -> str:
        if self.successful is None:
            return f"{self.day}: no report"
        return f"{self.day}: {self.successful} successful, {self.failed} failed sessions"


@dataclass(frozen=True, slots=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True, slots=True)
class DayLabel:
    text: str
    x: float


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    left: int
    bottom_y: float
    bars: list[Bar]
    ticks: list[Tick]
    day_labels: list[DayLabel]


def daily_bars(daily: list[DailyPoint]) -> BarChart:
    """Stacked bars per UTC day: successful sessions below, failed above."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    top = nice_max(
        max(((p.successful_sessions or 0) + (p.failed_sessions or 0) for p in daily), default=0)
    )
    slot = plot_w / max(len(daily), 1)
    gap = min(2.0, slot * 0.2)
    bars = []
    for i, p in enumerate(daily):
        ok, failed = p.successful_sessions or 0, p.failed_sessions or 0
        ok_h = plot_h * ok / top
        failed_h = plot_h * failed / top
        bars.append(
            Bar(
                day=p.day.isoformat(),
                x=round(LEFT + i * slot + gap / 2, 2),
                width=round(slot - gap, 2),
                successful=p.successful_sessions,
                failed=p.failed_sessions,
                ok_y=round(base - ok_h, 2),
                ok_height=round(ok_h, 2),
                failed_y=round(base - ok_h - failed_h, 2),
                failed_height=round(failed_h, 2),
            )
        )
    ticks = [Tick(v, round(base - plot_h * v / top, 2)) for v in (0, top // 2, top)]
    every = max(1, math.ceil(len(daily) / 6))
    labels = [
        DayLabel(p.day.strftime("%b %d"), round(LEFT + (i + 0.5) * slot, 2))
        for i, p in enumerate(daily)
        if i % every == 0
    ]
    return BarChart(WIDTH, HEIGHT, LEFT, base, bars, ticks, labels)


@dataclass(frozen=True, slots=True)
class Sparkline:
    width: int
    height: int
    segments: list[str]  # SVG polyline "points", one per run of days with data
    max_rate: float
    label: str


SPARK_W, SPARK_H = 120, 28


def sparkline(daily: list[DailyPoint]) -> Sparkline:
    """Daily failure rate; days without reports break the line."""
    rates = [p.failure_rate for p in daily]
    top = max([r for r in rates if r is not None] + [0.05])
    step = SPARK_W / max(len(daily) - 1, 1)
    segments: list[list[str]] = [[]]
    for i, r in enumerate(rates):
        if r is None:
            if segments[-1]:
                segments.append([])
            continue
        y = 2 + (SPARK_H - 4) * (1 - r / top)
        segments[-1].append(f"{i * step:.1f},{y:.1f}")
    known = [r for r in rates if r is not None]
    label = (
        "no reports in this period"
        if not known
        else f"daily failure rate from {min(known):.1%} to {max(known):.1%}"
    )
    return Sparkline(
        SPARK_W,
        SPARK_H,
        [" ".join(s) if len(s) > 1 else f"{s[0]} {s[0]}" for s in segments if s],
        top,
        label,
    )
