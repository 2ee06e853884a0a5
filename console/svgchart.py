"""A time-series chart as one SVG element, written by hand: axes, ticks in local time, a min/max
band and a line per series, threshold lines and event markers.

Why no plotting library: a report draws a few polylines per metric. matplotlib would add tens of
megabytes and a second of import time for that, and its SVG carries fonts and ids of its own; the
kept terminal plotters (textual-plotext) draw text, not SVG. This module is ~250 lines of string
building that a test reads back with an XML parser.

The output uses no script, no external reference and no font download: it is safe to inline in a
self-contained HTML page, and it prints (plain strokes, no transparency tricks beyond a fill
opacity). Pure: no I/O, no recording, no Textual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from html import escape

__all__ = ["Line", "Marker", "Point", "Series", "Threshold", "nice_ticks", "render", "time_ticks"]


@dataclass(frozen=True)
class Point:
    """One column of a downsampled series: the smallest, the largest and the last value in
    [start, end) (None: nothing measured there)."""

    start: float
    end: float
    low: float | None
    high: float | None
    last: float | None


@dataclass(frozen=True)
class Series:
    name: str  # "blue", "green": also its CSS class
    colour: str  # stroke colour
    points: Sequence[Point]


@dataclass(frozen=True)
class Threshold:
    value: float
    label: str  # "critical 5%"
    kind: str = "critical"  # "warning" / "critical": its CSS class and dash


@dataclass(frozen=True)
class Marker:
    t: float
    label: str  # "switch → green"
    kind: str = "action"  # "action" (a vertical line), "alarm" / "cleared" / "verdict" (a tick)


@dataclass(frozen=True)
class Line:
    """Everything one chart shows."""

    title: str
    unit: str
    start: float
    end: float
    series: Sequence[Series]
    thresholds: Sequence[Threshold] = ()
    markers: Sequence[Marker] = ()
    tz: tzinfo | None = None  # tick labels' zone (None: the machine's)
    css_id: str = "chart"
    max_gap: float = 0.0  # seconds without a figure that break a line (0: any empty column)


WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 44
_XMLNS = ' xmlns="http://www.w3.org/2000/svg"'
_MARKER_COLOURS = {
    "action": "#333333",
    "alarm": "#c62828",
    "cleared": "#2e7d32",
    "verdict": "#6a1b9a",
}
_THRESHOLD_STYLE = {
    "warning": ("#d08c00", "6 4"),
    "critical": ("#c62828", "2 3"),
}

# Time-axis steps, seconds: the first that gives at most ~8 ticks is taken.
_STEPS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round values from at or below lo to at or above hi (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    v = first
    for _ in range(count * 3 + 2):  # bounded; the last tick is at or above hi
        ticks.append(round(v, 10))
        if v >= hi - step * 1e-9:
            break
        v += step
    return ticks


def time_ticks(start: float, end: float, tz: tzinfo | None, count: int = 8) -> list[float]:
    """Epoch seconds of round local times within [start, end]: whole minutes, hours, days."""
    span = max(1e-3, end - start)
    step = next((s for s in _STEPS if span / s <= count), _STEPS[-1])
    first = datetime.fromtimestamp(start, timezone.utc).astimezone(tz)
    offset = first.utcoffset()
    off = offset.total_seconds() if offset else 0.0
    t = math.ceil((start + off) / step) * step - off  # a round local time (offset fixed at start)
    out = []
    for _ in range(count * 2 + 2):
        if t > end:
            break
        out.append(t)
        t += step
    return out


def _tick_label(t: float, span: float, tz: tzinfo | None) -> str:
    local = datetime.fromtimestamp(t, timezone.utc).astimezone(tz)
    if span >= 2 * 86400:
        return local.strftime("%d %b %H:%M")
    if span >= 600:
        return local.strftime("%H:%M")
    return local.strftime("%H:%M:%S")


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:g}"


def render(chart: Line, standalone: bool = False) -> str:
    """The chart as one ``<svg>`` element (a viewBox, so it scales to its container).
    ``standalone``: for an .svg file of its own (with its XML namespace; HTML needs none)."""
    x0, x1 = LEFT, WIDTH - RIGHT
    y0, y1 = HEIGHT - BOTTOM, TOP
    span = max(1e-3, chart.end - chart.start)
    values = [
        v
        for s in chart.series
        for p in s.points
        for v in (p.low, p.high)
        if v is not None and math.isfinite(v)
    ]
    values += [th.value for th in chart.thresholds]
    lo = min([0.0, *values])
    hi = max([1e-9, *values]) * 1.08
    yticks = nice_ticks(lo, hi)
    lo, hi = min(lo, yticks[0]), max(hi, yticks[-1])
    vspan = max(1e-12, hi - lo)

    def X(t: float) -> float:
        return x0 + (t - chart.start) / span * (x1 - x0)

    def Y(v: float) -> float:
        return y0 - (v - lo) / vspan * (y0 - y1)

    tz_name = datetime.fromtimestamp(chart.start, timezone.utc).astimezone(chart.tz).tzname()
    title = escape(chart.title)
    out = [
        f'<svg{_XMLNS if standalone else ""} class="chart" id="{escape(chart.css_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{escape(chart.css_id)}-t" '
        'font-family="sans-serif" font-size="11">',
        f'<title id="{escape(chart.css_id)}-t">{title}</title>',
        f'<rect class="frame" x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" '
        'fill="#ffffff" stroke="#999999" stroke-width="1"/>',
        f'<text class="heading" x="{x0}" y="16" font-size="13" font-weight="bold">{title}</text>',
    ]
    # value axis
    for v in yticks:
        y = Y(v)
        out.append(
            f'<line class="grid" x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#e0e0e0"/>'
            f'<text class="ytick" x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(v))}</text>'
        )
    if chart.unit:
        out.append(
            f'<text class="unit" x="12" y="{(y0 + y1) / 2:.0f}" text-anchor="middle" '
            f'transform="rotate(-90 12 {(y0 + y1) / 2:.0f})">{escape(chart.unit)}</text>'
        )
    # time axis, in local time
    for t in time_ticks(chart.start, chart.end, chart.tz):
        x = X(t)
        out.append(
            f'<line class="xtick" x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + 4}" stroke="#666666"/>'
            f'<text class="xtick" x="{x:.1f}" y="{y0 + 16}" '
            f'text-anchor="{"end" if x > x1 - 24 else "start" if x < x0 + 24 else "middle"}">'
            f"{escape(_tick_label(t, span, chart.tz))}</text>"
        )
    out.append(
        f'<text class="xaxis" x="{x1}" y="{HEIGHT - 8}" text-anchor="end" fill="#555555">'
        f"local time ({escape(tz_name or 'local')})</text>"
    )
    # series: the min/max band (a spike stays visible at any zoom), then the line of last values
    legend_x = x1
    for s in reversed(chart.series):
        cls = escape(s.name)
        for seg in _segments(s.points, chart.max_gap):
            top = " ".join(
                f"{X(p.start):.1f},{Y(p.high):.1f} {X(p.end):.1f},{Y(p.high):.1f}"
                for p in seg
                if p.high is not None
            )
            bottom = " ".join(
                f"{X(p.end):.1f},{Y(p.low):.1f} {X(p.start):.1f},{Y(p.low):.1f}"
                for p in reversed(seg)
                if p.low is not None
            )
            out.append(
                f'<polygon class="band {cls}" points="{top} {bottom}" fill="{s.colour}" '
                'fill-opacity="0.22" stroke="none"/>'
            )
            line = " ".join(
                f"{X((p.start + p.end) / 2):.1f},{Y(p.last if p.last is not None else p.high):.1f}"  # type: ignore[arg-type]
                for p in seg
            )
            out.append(
                f'<polyline class="series {cls}" points="{line}" fill="none" stroke="{s.colour}" '
                'stroke-width="1.6"/>'
            )
        legend_x -= 70
        out.append(
            f'<rect class="legend {cls}" x="{legend_x}" y="8" width="12" height="10" fill="{s.colour}"/>'
            f'<text class="legend" x="{legend_x + 16}" y="17">{cls}</text>'
        )
    # thresholds
    for th in chart.thresholds:
        stroke, dash = _THRESHOLD_STYLE.get(th.kind, ("#c62828", "2 3"))
        y = Y(th.value)
        out.append(
            f'<line class="threshold {escape(th.kind)}" x1="{x0}" y1="{y:.1f}" x2="{x1}" '
            f'y2="{y:.1f}" stroke="{stroke}" stroke-dasharray="{dash}" stroke-width="1.2"/>'
            f'<text class="threshold-label" x="{x0 + 4}" y="{y - 3:.1f}" fill="{stroke}">'
            f"{escape(th.label)}</text>"
        )
    # markers: actions as vertical lines with a label, alarms and verdicts as ticks on the top edge
    row = 0
    for m in sorted(chart.markers, key=lambda m: m.t):
        if not chart.start <= m.t <= chart.end:
            continue
        x = X(m.t)
        colour = _MARKER_COLOURS.get(m.kind, "#333333")
        label = escape(m.label)
        if m.kind == "action":
            out.append(
                f'<g class="marker action"><title>{label}</title>'
                f'<line x1="{x:.1f}" y1="{y1}" x2="{x:.1f}" y2="{y0}" stroke="{colour}" '
                'stroke-width="1.2"/>'
                f'<text x="{x + 3:.1f}" y="{y1 + 12 + 12 * (row % 3)}" fill="{colour}">{label}</text></g>'
            )
            row += 1
        else:
            out.append(
                f'<g class="marker {escape(m.kind)}"><title>{label}</title>'
                f'<path d="M{x - 5:.1f},{y1 - 8} L{x + 5:.1f},{y1 - 8} L{x:.1f},{y1} Z" '
                f'fill="{colour}"/></g>'
            )
    out.append("</svg>")
    return "\n".join(out)


def _segments(points: Sequence[Point], max_gap: float = 0.0) -> list[list[Point]]:
    """Runs of points with a value. A gap (nothing measured) longer than ``max_gap`` seconds breaks
    the line; a shorter one (a column between two polls) is bridged."""
    segs: list[list[Point]] = []
    cur: list[Point] = []
    for p in points:
        if p.high is None or p.low is None or not (math.isfinite(p.high) and math.isfinite(p.low)):
            continue
        if cur and p.start - cur[-1].end > max_gap:
            segs.append(cur)
            cur = []
        cur.append(p)
    if cur:
        segs.append(cur)
    return segs
