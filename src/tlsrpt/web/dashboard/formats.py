"""How the dashboard writes numbers, rates, times and states: the
templates' filters. Pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tlsrpt.web.dashboard.watch_view import days_text, expiry_class
from tlsrpt.web.segments import segment


def percent(rate: float | None) -> str:
    if rate is None:
        return "–"
    return f"{rate:.2%}" if rate < 0.1 else f"{rate:.1%}"


def number(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def utc(t: datetime | None) -> str:
    return "–" if t is None else f"{t:%Y-%m-%d %H:%M} UTC"


def health(rate: float | None) -> str:
    if rate is None:
        return "no-data"
    if rate <= 0.01:
        return "healthy"
    return "degraded" if rate <= 0.05 else "failing"


FILTERS: dict[str, Callable[..., Any]] = {
    "percent": percent,
    "number": number,
    "segment": segment,  # a domain in a path: one escaped segment
    "days_text": days_text,  # whole days left: "12 days", "expired 3 days ago"
    "expiry_class": expiry_class,
    "utc": utc,
}
