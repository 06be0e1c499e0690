"""How the dashboard writes numbers, rates, times and states: the
templates' filters. Pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from markupsafe import Markup

from tlsrpt.web.dashboard.watch_view import days_text, expiry_class
from tlsrpt.web.segments import segment


def percent(rate: float | None) -> str:
    if rate is None:
        return "–"
    return f"{rate:.2%}" if rate < 0.1 else f"{rate:.1%}"


def number(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def utc(t: datetime | None) -> str:
    return "–" if t is None else f"{_aware(t):%Y-%m-%d %H:%M} UTC"


def _aware(t: datetime) -> datetime:
    """Stored times are UTC, naive on SQLite."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def ago(t: datetime, now: datetime) -> str:
    """How long before `now`: "just now", "5 min ago", "3 h ago", "2 days ago"
    (or "in 3 h" for a time to come)."""
    seconds = int((now - _aware(t)).total_seconds())
    late = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        text = f"{seconds // 60} min"
    elif seconds < 2 * 86400:
        text = f"{seconds // 3600} h"
    else:
        text = plural(seconds // 86400, "day")
    return f"in {text}" if late else f"{text} ago"


def when(t: datetime | str | None, now: datetime | None = None) -> Markup:
    """A time in UTC with its offset, and how long ago, as a `<time>`
    (a stored ISO 8601 text too; other text is shown as it is, escaped)."""
    if t is None:
        return Markup("–")
    if isinstance(t, str):
        try:
            t = datetime.fromisoformat(t)
        except ValueError:
            return Markup("{}").format(t)
    t = _aware(t)
    relative = ago(t, now or datetime.now(UTC))
    offset = t.isoformat()[-6:]  # +00:00
    return Markup('<time datetime="{}">{} UTC{}</time> <small class="ago">{}</small>').format(
        t.isoformat(), f"{t:%Y-%m-%d %H:%M}", offset, relative
    )


def plural(n: int, word: str, words: str | None = None) -> str:
    """ "1 domain", "2 domains", "1,000 reports"."""
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def size(n: int) -> str:
    """Bytes for a reader: "1 byte", "512 bytes", "64 KiB", "1.5 MiB"."""
    if n < 1024:
        return plural(n, "byte")
    if n < 1024 * 1024:
        return f"{n / 1024:.3g} KiB"
    return f"{n / 1024 / 1024:.3g} MiB"


def health(rate: float | None) -> str:
    if rate is None:
        return "no-data"
    if rate <= 0.01:
        return "healthy"
    return "degraded" if rate <= 0.05 else "failing"


def json_list(text: str | None) -> list[str]:
    """A stored JSON list of strings (a policy's MX hosts) as a list; text
    that is not one is shown as a single item."""
    if not text:
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return [text]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return [text]


FILTERS: dict[str, Callable[..., Any]] = {
    "percent": percent,
    "number": number,
    "segment": segment,  # a domain in a path: one escaped segment
    "days_text": days_text,  # whole days left: "12 days", "expired 3 days ago"
    "expiry_class": expiry_class,
    "utc": utc,
    "when": when,
    "plural": plural,
    "bytes": size,
    "json_list": json_list,
}
