"""The dashboard's charts, drawn on the server as SVG by pygal.

The pages run no script: the Content-Security-Policy forbids every script,
so a hostile string in a report cannot execute even if some escaping were
missed. pygal builds its SVG as an element tree (so every text, such as a
domain name in a title, is escaped when serialized) and would add a
script carrying its configuration and an inline stylesheet; `_no_script`,
an XML filter of pygal's, removes the script, pygal's comments and its
JavaScript-only tooltip overlay, and turns each bar's label into a
`<title>` (the browser's own tooltip, read by screen readers).

- The daily chart is embedded in the domain page. The page's CSP allows no
  inline style, so pygal's stylesheet and style attributes are removed too
  and `static/style.css` styles pygal's classes.
- The overview's sparklines are `<img>` of `/charts/failure-rate.svg`, a
  pure function of the rates in its URL; such an image keeps pygal's own
  stylesheet (its response allows inline style, still no script). Drawing
  fifty sparklines inline would cost the overview page about 170 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from tlsrpt.analysis.period import DailyPoint

FAILED_COLOR = "#c62828"  # the page's --bad
SPARK_W, SPARK_H = 120, 28
MAX_SPARK_POINTS = 400  # the longest period a page shows (reads.MAX_DAYS)
DAILY_TITLE_ID = "daily-chart-title"


def _local(tag: Any) -> str:
    """An element's name without namespace; "" for comments and the like."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _no_script(*, keep_style: bool) -> Callable[[Any], Any]:
    """A pygal XML filter: no script, comment or JavaScript-only element;
    bar labels as `<title>`; without `keep_style`, no style either."""

    def drop(element: Any) -> bool:
        name = _local(element.tag)
        return (
            name in ("", "script")
            or (name == "style" and not keep_style)
            or "tooltip-overlay" in element.get("class", "")
        )

    def apply(root: Any) -> Any:
        for parent in list(root.iter()):
            for child in list(parent):
                if drop(child):
                    parent.remove(child)
            if not keep_style:
                parent.attrib.pop("style", None)
            if _local(parent.tag) == "desc" and parent.get("class") == "label":
                parent.tag = parent.tag[: -len("desc")] + "title"
                del parent.attrib["class"]
        return root

    return apply


def _titled(title: str, title_id: str | None, **attributes: str) -> Callable[[Any], Any]:
    """A pygal XML filter naming the chart: its `<title>` and ARIA role."""

    def apply(root: Any) -> Any:
        for key, value in attributes.items():
            root.set(key, value)
        root.set("role", "img")
        heading = next(e for e in root if _local(e.tag) == "title")
        heading.text = title
        if title_id:
            heading.set("id", title_id)
            root.set("aria-labelledby", title_id)
        return root

    return apply


def _bar_label(p: DailyPoint, count: int | None, what: str) -> str:
    day = p.day.isoformat()
    return f"{day}: no report" if count is None else f"{day}: {count:,} {what} sessions"


def daily_chart(daily: Sequence[DailyPoint], domain: str) -> Markup:
    """Stacked bars per UTC day, successful sessions below and failed above,
    as inline SVG (`<svg id="daily-chart">`) for the domain page."""
    chart = pygal.StackedBar(
        width=720,
        height=240,
        margin=8,
        show_legend=False,
        js=[],
        css=[],  # pygal's stylesheet is dropped anyway
        disable_xml_declaration=True,
        no_prefix=True,
        classes=["pygal-chart", "daily-chart"],
        formatter=lambda v: f"{v:,}",
        x_labels=[p.day.isoformat() for p in daily],
        x_labels_major_every=max(1, math.ceil(len(daily) / 6)),
        show_minor_x_labels=False,
        truncate_label=-1,
        show_x_guides=False,
        spacing=2,
    )
    for what, count_of in (
        ("successful", lambda p: p.successful_sessions),
        ("failed", lambda p: p.failed_sessions),
    ):
        chart.add(
            what,
            [{"value": count_of(p), "label": _bar_label(p, count_of(p), what)} for p in daily],
        )
    chart.add_xml_filter(_no_script(keep_style=False))
    chart.add_xml_filter(
        _titled(
            f"Daily successful and failed sessions for {domain}", DAILY_TITLE_ID, id="daily-chart"
        )
    )
    # pygal serialized the tree: text and attributes are escaped.
    return Markup(chart.render(is_unicode=True))  # noqa: S704


def failure_rate_label(rates: Sequence[float | None]) -> str:
    known = [r for r in rates if r is not None]
    if not known:
        return "no reports in this period"
    return f"daily failure rate from {min(known):.1%} to {max(known):.1%}"


def spark_query(daily: Sequence[DailyPoint]) -> str:
    """The `r` parameter of a sparkline's URL: daily rates, "" for no report."""
    return ",".join("" if p.failure_rate is None else f"{p.failure_rate:.6g}" for p in daily)


def parse_spark_query(text: str) -> list[float | None] | None:
    """The rates of a sparkline's URL, or None if it is not one."""
    parts = text.split(",")
    if len(parts) > MAX_SPARK_POINTS:
        return None
    rates: list[float | None] = []
    for part in parts:
        if not part:
            rates.append(None)
            continue
        try:
            rate = float(part)
        except ValueError:
            return None
        if not 0 <= rate <= 1:  # also refuses nan
            return None
        rates.append(rate)
    return rates


SPARK_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    colors=(FAILED_COLOR,),
    stroke_width="1.5",
    opacity="1",
)


def sparkline(rates: Sequence[float | None]) -> str:
    """A standalone SVG of the daily failure rate, on a scale from 0 to the
    highest rate (at least 5 %): a dot per day with reports (its value in a
    `<desc>`), joined by a line that a day without reports breaks."""
    top = max([r for r in rates if r is not None] + [0.05])
    chart = pygal.Line(
        style=SPARK_STYLE,
        allow_interruptions=True,
        range=(0, top),
        js=[],
        classes=["pygal-chart", "spark"],
        formatter=lambda v: f"{v:.2%}",
    )
    chart.add("daily failure rate", list(rates))
    chart.add_xml_filter(_no_script(keep_style=True))
    chart.add_xml_filter(_titled(failure_rate_label(rates), None))
    svg: str = chart.render_sparkline(
        width=SPARK_W,
        height=SPARK_H,
        margin=2,
        disable_xml_declaration=True,
        show_dots=True,  # a day between two without reports is a dot
        dots_size=1,
    )
    return svg
