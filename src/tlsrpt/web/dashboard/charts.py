"""The dashboard's charts, drawn on the server as SVG.

The pages run no script: the Content-Security-Policy forbids every script,
so a hostile string in a report cannot execute even if some escaping were
missed.

- The daily chart (`daily_chart`) is embedded in the domain page: stacked
  bars of successful and failed sessions on the left axis and the failure
  rate as a line on its own axis on the right, over a few gridlines at
  round numbers (`nice_step`). It is built as an XML element tree, so every
  text (a domain name in its title) is escaped when serialized; it carries
  no style (the page's CSP allows none inline): `static/style.css` styles
  its classes, in the light and the dark scheme.
- The overview's sparklines are `<img>` of `/charts/failure-rate.svg`, a
  pure function of the rates and the page's shared scale in its URL, drawn
  by pygal. pygal would add a script carrying its configuration; `_no_script`,
  an XML filter, removes it, pygal's comments and its JavaScript-only
  tooltip overlay, and turns each dot's label into a `<title>`. Such an
  image keeps pygal's own stylesheet (its response allows inline style,
  still no script). Drawing fifty sparklines inline would cost the
  overview page about 170 ms.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from tlsrpt.analysis.period import DailyPoint

FAILED_COLOR = "#c62828"  # the page's --bad
ZERO_COLOR = "#6b7280"  # grey: a domain without failures
SPARK_W, SPARK_H = 120, 28
MAX_SPARK_POINTS = 400  # the longest period a page shows (reads.MAX_DAYS)
DAILY_TITLE_ID = "daily-chart-title"
SVG_NS = "http://www.w3.org/2000/svg"


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


def nice_step(span: float, intervals: int = 4, *, whole: bool = False) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten; with `whole`, a
    whole number at least 1) that covers `span` in at most `intervals` steps."""
    if span <= 0:
        return 1.0
    raw = span / intervals
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if whole and (step < 1 or step != int(step)):
            continue
        if step >= raw * (1 - 1e-9):
            return step
    raise AssertionError("unreachable")


def rate_text(rate: float) -> str:
    """A rate on the axis: "0 %", "0.5 %", "12 %"."""
    return f"{round(rate * 100, 6):g} %"


@dataclass(frozen=True, slots=True)
class Box:
    """The plot area of the daily chart, inside its labels."""

    left: float = 64
    top: float = 10
    width: float = 592
    height: float = 200

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def slot(self, days: int) -> float:
        return self.width / max(1, days)


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    """A child element; `class_` and `aria_label` style names as attributes."""
    names = {k: k.rstrip("_").replace("_", "-") for k in attrs}
    element = ET.SubElement(parent, tag, {names[k]: str(v) for k, v in attrs.items()})
    element.text = text
    return element


def daily_chart(daily: Sequence[DailyPoint], domain: str) -> Markup:
    """Stacked bars per UTC day, successful sessions below and failed above
    (left axis), and the day's failure rate as a line on its own axis
    (right), over at most five gridlines at round numbers: inline SVG
    (`<svg id="daily-chart">`) for the domain page."""
    box = Box()
    sessions = max([(p.successful_sessions or 0) + (p.failed_sessions or 0) for p in daily] + [0])
    step = nice_step(sessions, whole=True)  # sessions are whole numbers
    intervals = max(1, math.ceil(sessions / step - 1e-9))
    worst = max([p.failure_rate for p in daily if p.failure_rate is not None] + [0.01])
    rate_step = nice_step(worst, intervals)
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "id": "daily-chart",
            "class": "daily-chart",
            "viewBox": f"0 0 {box.left * 2 + box.width:g} {box.bottom + 44:g}",
            "role": "img",
            "aria-labelledby": DAILY_TITLE_ID,
        },
    )
    _el(svg, "title", f"Daily sessions and failure rate for {domain}", id=DAILY_TITLE_ID)
    _grid(svg, box, intervals, step, rate_step)
    _bars(svg, box, daily, step * intervals)
    _rate_line(svg, box, daily, rate_step * intervals)
    _day_labels(svg, box, daily)
    return Markup(ET.tostring(svg, encoding="unicode"))  # noqa: S704 (escaped by ElementTree)


def _grid(svg: ET.Element, box: Box, intervals: int, step: float, rate_step: float) -> None:
    grid = _el(svg, "g", class_="grid")
    right = box.left + box.width
    for n in range(intervals + 1):
        y = f"{box.bottom - box.height * n / intervals:.2f}"
        _el(grid, "line", x1=box.left, x2=right, y1=y, y2=y)
        _el(grid, "text", f"{round(step * n):,}", x=box.left - 6, y=y, class_="y")
        _el(grid, "text", rate_text(rate_step * n), x=right + 6, y=y, class_="y2")
    _el(grid, "text", "sessions", x=box.left - 6, y=box.bottom + 38, class_="y axis-name")
    _el(grid, "text", "failure rate", x=right + 6, y=box.bottom + 38, class_="y2 axis-name")


def _bars(svg: ET.Element, box: Box, daily: Sequence[DailyPoint], top: float) -> None:
    slot = box.slot(len(daily))
    width = max(1.0, slot - min(2.0, slot / 4))
    base = [box.bottom] * len(daily)
    for serie, what in enumerate(("successful", "failed")):
        group = _el(svg, "g", class_=f"series serie-{serie} color-{serie}")
        bars = _el(group, "g", class_="bars")
        for i, p in enumerate(daily):
            count = p.successful_sessions if serie == 0 else p.failed_sessions
            height = box.height * (count or 0) / top
            base[i] -= height
            day = p.day.isoformat()
            bar = _el(bars, "g", class_="bar")
            _el(
                bar,
                "title",
                f"{day}: no report" if count is None else f"{day}: {count:,} {what} sessions",
            )
            _el(bar, "desc", "–" if count is None else f"{count:,}", class_="value")
            _el(bar, "desc", day, class_="x_label")
            x = f"{box.left + slot * i + (slot - width) / 2:.2f}"
            _el(bar, "rect", x=x, y=base[i], width=f"{width:.2f}", height=height)


def _rate_line(svg: ET.Element, box: Box, daily: Sequence[DailyPoint], top: float) -> None:
    """The failure rate: a line that a day without reports breaks, a dot per day."""
    slot = box.slot(len(daily))
    group = _el(svg, "g", class_="series rate")
    runs: list[list[str]] = [[]]
    for i, p in enumerate(daily):
        if p.failure_rate is None:
            runs.append([])
            continue
        x, y = box.left + slot * (i + 0.5), box.bottom - box.height * p.failure_rate / top
        runs[-1].append(f"{x:.2f},{y:.2f}")
        dot = _el(group, "circle", cx=f"{x:.2f}", cy=f"{y:.2f}", r="2.5", class_="dot")
        _el(dot, "title", f"{p.day.isoformat()}: {p.failure_rate:.2%} of sessions failed")
    for run in runs:
        if len(run) > 1:
            _el(group, "polyline", points=" ".join(run))


def _day_labels(svg: ET.Element, box: Box, daily: Sequence[DailyPoint]) -> None:
    slot = box.slot(len(daily))
    every = max(1, math.ceil(len(daily) / 6))
    labels = _el(svg, "g", class_="x-labels")
    for i in range(0, len(daily), every):
        x = f"{box.left + slot * (i + 0.5):.2f}"
        _el(labels, "text", daily[i].day.isoformat(), x=x, y=box.bottom + 18, class_="x")


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


def spark_scale(rates: Sequence[float | None]) -> float:
    """The top of every sparkline on a page: the highest daily rate of the
    domains shown, rounded up to a round number, at least 1 %."""
    worst = max([r for r in rates if r is not None] + [0.01])
    return min(1.0, nice_step(worst, 1))


def parse_spark_top(text: str) -> float | None:
    """The shared scale of a sparkline's URL, or None if it is not one."""
    try:
        top = float(text)
    except ValueError:
        return None
    return top if 0 < top <= 1 else None  # also refuses nan


def sparkline(rates: Sequence[float | None], top: float = 0.05) -> str:
    """A standalone SVG of the daily failure rate, on the page's scale from
    0 to `top` (or the highest rate, if higher): a dot per day with reports
    (its value in a `<desc>`), joined by a line that a day without reports
    breaks; red, or grey when no session failed."""
    known = [r for r in rates if r is not None]
    style = Style(
        background="transparent",
        plot_background="transparent",
        colors=(FAILED_COLOR if any(known) else ZERO_COLOR,),
        stroke_width="1.5",
        opacity="1",
    )
    chart = pygal.Line(
        style=style,
        allow_interruptions=True,
        range=(0, max([top, *known])),
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
