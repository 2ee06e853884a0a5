"""A real chart of one metric for both colours: a time axis, a value axis, threshold lines and event
markers, drawn with textual-plotext (Plotext inside a Textual widget).

``plan_chart`` is pure: it turns a ``ChartView`` (plain data) into a ``ChartPlan``, the exact values
handed to Plotext (lines, threshold and marker lines, ticks, limits), so a test can check what is
drawn as data rather than pixels. ``MetricChart`` draws the plan of its ``view`` at its own size.

Each colour is drawn as two lines, the largest and the smallest value of each column (the recording
downsamples with min/max): a one-poll spike survives any range, where an average would hide it.

textual-plotext 1.0.1 was checked with Textual 8.2.8: its ``PlotextPlot`` renders through
``Text.from_ansi`` and follows the app's theme; nothing of it is patched here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from textual.app import RenderResult
from textual.color import Color
from textual.reactive import reactive
from textual_plotext import PlotextPlot

RGB = tuple[int, int, int]

COLOURS: dict[str, RGB] = {"blue": (74, 158, 255), "green": (63, 207, 106)}
"""Each colour's accent (widgets/_common.py ACCENT) as Plotext wants it."""

LOW: dict[str, RGB] = {"blue": (42, 96, 160), "green": (36, 128, 64)}
"""The smallest value of each column: the same hue, dimmer, so the largest reads first."""

LEVEL_RGB: dict[str, RGB] = {
    "warning": (235, 190, 40),
    "critical": (240, 70, 70),
    "error": (240, 70, 70),
    "failed": (240, 70, 70),
    "ok": (90, 200, 120),
    "passed": (90, 200, 120),
    "info": (200, 200, 200),
}
"""Threshold lines and markers by level."""

MARKER_SYMBOLS: dict[str, str] = {
    "switch": "S",
    "rollback": "R",
    "drain": "D",
    "ready": "U",
    "weights": "W",
    "external": "X",
    "raised": "!",
    "cleared": "✓",
    "ended": "○",  # an alarm that ended because its colour lost its traffic: not a recovery
    "bake": "B",
}
"""The letter drawn at the top of a marker line, by what happened."""


@dataclass(frozen=True)
class ChartSeries:
    """One colour's downsampled series: per column its time (the column's middle) and the
    smallest and largest value measured in it (None: nothing measured)."""

    colour: str
    times: tuple[float, ...]
    low: tuple[float | None, ...]
    high: tuple[float | None, ...]


@dataclass(frozen=True)
class Threshold:
    level: str  # "warning" / "critical"
    value: float
    label: str  # "critical 5%"


@dataclass(frozen=True)
class Marker:
    t: float  # wall time
    kind: str  # a key of MARKER_SYMBOLS
    level: str  # a key of LEVEL_RGB
    text: str  # what happened, in words

    @property
    def symbol(self) -> str:
        return MARKER_SYMBOLS.get(self.kind, "•")


@dataclass(frozen=True)
class ChartView:
    """What the chart shows: [start, end] in wall seconds, the series, thresholds and markers."""

    metric: str = ""
    unit: str = ""
    start: float = 0.0
    end: float = 60.0
    series: tuple[ChartSeries, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    markers: tuple[Marker, ...] = ()
    decimals: int = 1
    message: str = ""  # drawn in the middle when there is nothing to plot ("no data yet")


@dataclass(frozen=True)
class PlotLine:
    label: str  # "green max"
    colour: RGB
    xs: tuple[float, ...]  # seconds from the view's start
    ys: tuple[float, ...]


@dataclass(frozen=True)
class ChartPlan:
    """Everything handed to Plotext, in plain values."""

    lines: tuple[PlotLine, ...] = ()
    hlines: tuple[tuple[float, RGB], ...] = ()
    vlines: tuple[tuple[float, RGB], ...] = ()
    texts: tuple[tuple[str, float, float, RGB], ...] = ()
    xlim: tuple[float, float] = (0.0, 60.0)
    ylim: tuple[float, float] = (0.0, 1.0)
    xticks: tuple[tuple[float, ...], tuple[str, ...]] = ((), ())
    yticks: tuple[tuple[float, ...], tuple[str, ...]] = ((), ())
    xlabel: str = ""
    message: str = ""

    def line(self, label: str) -> tuple[float, ...]:
        """Every y value of the lines called ``label`` ("green max"), in order (tests)."""
        return tuple(y for ln in self.lines if ln.label == label for y in ln.ys)


_TIME_STEPS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172800, 604800,
)  # fmt: skip


def nice_step(extent: float, count: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that cuts ``extent`` in about ``count``."""
    if extent <= 0 or count <= 0:
        return 1.0
    raw = extent / count
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _y_label(value: float, step: float) -> str:
    if step >= 1 or value == 0:
        return f"{value:,.0f}"
    digits = max(0, -math.floor(math.log10(step)))
    return f"{value:.{min(digits + 1, 3)}f}".rstrip("0").rstrip(".")


def _time_label(t: float, step: float, span: float) -> str:
    dt = datetime.fromtimestamp(t)
    if span > 86400 and step >= 3600:
        return dt.strftime("%m-%d %H:%M")
    return dt.strftime("%H:%M" if step >= 60 else "%H:%M:%S")


def time_ticks(start: float, end: float, width: int) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Ticks at round wall times (every 10 s, 1 min, 5 min...), at most one per 10 columns."""
    span = max(1e-3, end - start)
    most = max(2, width // 10)
    step = next((s for s in _TIME_STEPS if span / s <= most), _TIME_STEPS[-1])
    first = math.ceil(start / step) * step
    ts = [first + i * step for i in range(int((end - first) // step) + 1)]
    return (
        tuple(t - start for t in ts),
        tuple(_time_label(t, step, span) for t in ts),
    )


def _segments(
    times: Sequence[float], values: Sequence[float | None]
) -> list[tuple[list[float], list[float]]]:
    """Runs of measured values: a column with nothing measured is a gap, never a zero."""
    out: list[tuple[list[float], list[float]]] = []
    xs: list[float] = []
    ys: list[float] = []
    for t, v in zip(times, values, strict=True):
        if v is None or not math.isfinite(v):
            if xs:
                out.append((xs, ys))
            xs, ys = [], []
            continue
        xs.append(t)
        ys.append(v)
    if xs:
        out.append((xs, ys))
    return out


def plan_chart(view: ChartView, width: int, height: int) -> ChartPlan:
    """The values handed to Plotext for ``view`` at ``width`` x ``height`` cells."""
    start, end = view.start, max(view.end, view.start + 1e-3)
    lines: list[PlotLine] = []
    top = 0.0
    bottom = 0.0
    for s in view.series:
        for which, values, rgb in (
            ("min", s.low, LOW.get(s.colour, (128, 128, 128))),
            ("max", s.high, COLOURS.get(s.colour, (200, 200, 200))),
        ):
            for xs, ys in _segments(s.times, values):
                if len(xs) == 1:  # one measured column alone: a short dash, not an invisible dot
                    xs, ys = [xs[0] - 0.5, xs[0] + 0.5], [ys[0], ys[0]]
                lines.append(
                    PlotLine(
                        f"{s.colour} {which}",
                        rgb,
                        tuple(x - start for x in xs),
                        tuple(ys),
                    )
                )
                top = max(top, max(ys))
                bottom = min(bottom, min(ys))
    for th in view.thresholds:
        top = max(top, th.value)
    if top <= bottom:
        top = bottom + 1.0
    ystep = nice_step(top - bottom, max(2, (height - 4) // 3))
    ytop = math.ceil(top * 1.08 / ystep) * ystep
    ybottom = math.floor(bottom / ystep) * ystep
    yt = [ybottom + i * ystep for i in range(int(round((ytop - ybottom) / ystep)) + 1)]
    hlines = tuple((th.value, LEVEL_RGB.get(th.level, (200, 200, 200))) for th in view.thresholds)
    vlines: list[tuple[float, RGB]] = []
    texts: list[tuple[str, float, float, RGB]] = []
    per_column = (end - start) / max(1, width - 10)  # seconds in one column of the plot
    per_row = (ytop - ybottom) / max(1, height - 4)
    placed: list[tuple[float, float]] = []
    for m in view.markers:
        if not start <= m.t <= end:
            continue
        rgb = LEVEL_RGB.get(m.level, LEVEL_RGB["info"])
        x = m.t - start
        vlines.append((x, rgb))
        # Letters of markers a column or two apart stack downwards instead of covering each other.
        y = ytop
        while any(abs(px - x) < 2 * per_column and abs(py - y) < per_row / 2 for px, py in placed):
            y -= per_row
        placed.append((x, y))
        texts.append((m.symbol, x, y, rgb))
    zone = time.strftime("%Z") or "local time"
    return ChartPlan(
        lines=tuple(lines),
        hlines=hlines,
        vlines=tuple(vlines),
        texts=tuple(texts),
        xlim=(0.0, end - start),
        ylim=(ybottom, ytop),
        xticks=time_ticks(start, end, width - 10),
        yticks=(tuple(yt), tuple(_y_label(y, ystep) for y in yt)),
        xlabel=f"time ({zone})" + (f"  ·  {view.unit}" if view.unit else ""),
        message=view.message,
    )


class MetricChart(PlotextPlot):
    """The detail chart of one metric: both colours, thresholds, markers.

    Set ``view`` (a ``ChartView``); the widget never reads data itself. ``plan`` is what it drew
    last (the values handed to Plotext).
    """

    DEFAULT_CSS = """
    MetricChart {
        width: 1fr;
        height: 1fr;
        min-height: 8;
    }
    """

    view: reactive[ChartView] = reactive(ChartView, always_update=True)
    """What to draw: plain data, built off the UI thread from the recording."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.plan = ChartPlan()

    def watch_view(self) -> None:
        self.refresh()

    def render(self) -> RenderResult:
        width, height = self.size.width, self.size.height
        plan = plan_chart(self.view, width, height)
        self.plan = plan
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        canvas = Color.parse(self.app.theme_variables.get("surface", "#1e1e1e")).rgb
        for ln in plan.lines:
            plt.plot(list(ln.xs), list(ln.ys), color=ln.colour, marker="hd")
        for y, rgb in plan.hlines:
            plt.hline(y, rgb)
        for x, rgb in plan.vlines:
            plt.vline(x, rgb)
        for text, x, y, rgb in plan.texts:
            plt.text(text, x, y, color=rgb, background=canvas, alignment="center")
        if plan.message:
            mid = (plan.ylim[0] + plan.ylim[1]) / 2
            plt.text(plan.message, plan.xlim[1] / 2, mid, background=canvas, alignment="center")
        plt.xlim(*plan.xlim)
        plt.ylim(*plan.ylim)
        plt.xticks(list(plan.xticks[0]), list(plan.xticks[1]))
        plt.yticks(list(plan.yticks[0]), list(plan.yticks[1]))
        plt.xlabel(plan.xlabel)
        return super().render()
