"""Notification texts, made from the Jinja2 templates in `templates/`
(pure: a payload in, text out).

What each says: what broke (the alert's summary, rule and subject), since
when, the evidence, the fix, and a link to the domain's dashboard page
(`public_url` + `/domains/DOMAIN`). Alert text comes partly from remote
data (report contents, certificates, DNS answers): the HTML templates are
autoescaped, and every value, in text and HTML alike, loses its control
characters (no terminal escapes, no header injection).

Templates: `alert.txt`, `alert.html` (with `alert_body.html`), `digest.txt`,
`digest.html`. Change them in the package to change every notification.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import orjson

TEMPLATES = Path(__file__).with_name("templates")
SUBJECT_MAX_CHARS = 200
EVIDENCE_MAX_LINES = 50
# C0 and C1 controls and DEL, except tab and newline; also the Unicode
# line and paragraph separators and bidirectional overrides.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_HEADLINES = {
    "alert.firing": "FIRING",
    "alert.resolved": "RESOLVED",
    "alert.renotify": "STILL FIRING",
}


def clean(value: Any) -> Any:
    """`value` without control characters (strings only; None as "")."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    return value


def one_line(text: str, limit: int = SUBJECT_MAX_CHARS) -> str:
    """Whitespace runs (newlines too) as one space, cut at `limit`."""
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@cache
def _environment(html: bool) -> jinja2.Environment:
    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(TEMPLATES),
        "finalize": clean,
        "undefined": jinja2.ChainableUndefined,
        "keep_trailing_newline": True,
    }
    if html:
        return jinja2.Environment(autoescape=True, **options)
    # text/plain bodies and chat messages: no markup to escape
    return jinja2.Environment(autoescape=False, **options)  # noqa: S701


@dataclass(frozen=True, slots=True)
class Entry:
    """One notification as the templates see it."""

    event: str
    headline: str
    alert: Mapping[str, Any]
    evidence: list[str]
    link: str | None


def entry(payload: Mapping[str, Any], public_url: str | None) -> Entry:
    """A stored notification (`{"event", "alert"[, "renotify"]}`) for the templates."""
    alert = payload.get("alert") or {}
    event = "alert.renotify" if payload.get("renotify") else str(payload.get("event"))
    return Entry(
        event=event,
        headline=_HEADLINES.get(event, event.upper()),
        alert=alert,
        evidence=evidence_lines(alert.get("evidence")),
        link=dashboard_link(public_url, alert.get("domain")),
    )


def dashboard_link(public_url: str | None, domain: Any) -> str | None:
    if not public_url or not isinstance(domain, str) or not domain:
        return None
    return f"{public_url.rstrip('/')}/domains/{quote(domain, safe='')}"


def evidence_lines(evidence: Any) -> list[str]:
    """The alert's evidence as lines: a mapping as `key: value`, a list item
    by item, anything else as its text; at most EVIDENCE_MAX_LINES."""
    if evidence is None or evidence == "":
        return []
    if isinstance(evidence, Mapping):
        lines = [f"{key}: {_text(value)}" for key, value in sorted(evidence.items(), key=str)]
    elif isinstance(evidence, list | tuple):
        lines = [_text(item) for item in evidence]
    else:
        lines = [_text(evidence)]
    if len(lines) > EVIDENCE_MAX_LINES:
        more = len(lines) - EVIDENCE_MAX_LINES
        lines = [*lines[:EVIDENCE_MAX_LINES], f"… and {more} more"]
    return lines


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def subject(item: Entry) -> str:
    alert = item.alert
    where = alert.get("domain") or "all domains"
    what = alert.get("summary") or alert.get("rule") or "alert"
    return one_line(f"[tlsrpt] {item.headline}: {where}: {what}")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def render_alert(payload: Mapping[str, Any], public_url: str | None) -> Rendered:
    """One notification as a subject, a plain-text and an HTML body."""
    item = entry(payload, public_url)
    context = {
        "subject": subject(item),
        "headline": item.headline,
        "alert": item.alert,
        "evidence": item.evidence,
        "link": item.link,
        "event": item.event,
    }
    return Rendered(
        context["subject"],  # type: ignore[arg-type]
        _environment(False).get_template("alert.txt").render(context),
        _environment(True).get_template("alert.html").render(context),
    )


def render_digest(
    payloads: Sequence[Mapping[str, Any]], day: str, public_url: str | None
) -> Rendered:
    """A day's notifications for one recipient, in one message."""
    entries = [entry(p, public_url) for p in payloads]
    firing = sum(1 for e in entries if e.event != "alert.resolved")
    resolved = len(entries) - firing
    text = f"[tlsrpt] daily digest {day}: {firing} firing, {resolved} resolved"
    context = {"subject": one_line(text), "day": day, "entries": entries}
    return Rendered(
        context["subject"],  # type: ignore[arg-type]
        _environment(False).get_template("digest.txt").render(context),
        _environment(True).get_template("digest.html").render(context),
    )
