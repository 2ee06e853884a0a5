"""A sparkline that stacks block characters over several rows, and its pure renderer.

``render_sparkline`` does the drawing and returns plain strings, so a test can read a chart as text;
``SparkChart`` only draws those strings at its own size, in the colour its CSS gives it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"
"""One row's eight levels, lowest first."""


def _bounds(
    present: Sequence[float], minimum: float | None, maximum: float | None
) -> tuple[float, float]:
    low = minimum if minimum is not None else (0.0 if min(present) >= 0 else min(present))
    high = maximum if maximum is not None else max(present)
    return low, high


def render_sparkline(
    values: Sequence[float | None],
    width: int,
    height: int = 1,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> list[str]:
    """Draw the last ``width`` values as a bar chart ``height`` rows tall.

    Each row holds eight levels, so a chart three rows tall has 24. The newest value is the right-most
    column; a short series is right-aligned. ``None`` (no data) is a gap in every row, while any real
    value, zero included, shows at least the lowest bar, so "zero" and "no data" look different.

    The scale runs from ``minimum`` (default 0 when no value is negative, else the smallest value) to
    ``maximum`` (default the largest value shown). A flat series with no explicit ``maximum`` draws as a
    low flat line rather than a solid block: a steady figure is not an alarming one.

    Args:
        values: the series, oldest first.
        width: columns to fill.
        height: rows to fill.
        minimum: the value drawn as the lowest bar.
        maximum: the value drawn as a full column; larger values are clipped to it.

    Returns:
        ``height`` strings of exactly ``width`` characters, top row first.
    """
    if width <= 0 or height <= 0:
        return [""] * max(height, 0)
    shown = list(values)[-width:]
    present = [float(v) for v in shown if v is not None and math.isfinite(v)]
    levels = len(BARS) * height
    columns: list[int] = []  # eighths filled per column; 0 is a gap
    if present:
        low, high = _bounds(present, minimum, maximum)
        flat = maximum is None and min(present) == max(present)
        extent = high - low
        for value in shown:
            if value is None or not math.isfinite(value):
                columns.append(0)
            elif flat or extent <= 0:
                columns.append(1)
            else:
                ratio = min(1.0, max(0.0, (float(value) - low) / extent))
                columns.append(1 + round(ratio * (levels - 1)))
    columns = [0] * (width - len(columns)) + columns
    rows = []
    for row in reversed(range(height)):
        cells = []
        for filled in columns:
            part = min(len(BARS), max(0, filled - row * len(BARS)))
            cells.append(BARS[part - 1] if part else " ")
        rows.append("".join(cells))
    return rows


class SparkChart(Widget):
    """A bar chart of a metric's recent history, newest at the right.

    The bars take the widget's own ``color``, so the parent colours them
    (``ColourPanel.-blue SparkChart { color: ... }``); the component class can override it.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"spark-chart--bar"}
    """
    | Class | Description |
    | :- | :- |
    | `spark-chart--bar` | Style of the bars; empty by default, so they take the widget's colour. |
    """

    DEFAULT_CSS = """
    SparkChart {
        width: 1fr;
        height: 1;
        min-width: 4;
    }
    """

    data: reactive[tuple[float | None, ...]] = reactive(tuple)
    """The series to draw, oldest first; ``None`` is a gap (no sample at that time)."""

    maximum: reactive[float | None] = reactive(None)
    """The value drawn as a full column, or ``None`` to scale to the largest value shown."""

    minimum: reactive[float | None] = reactive(None)
    """The value drawn as the lowest bar, or ``None`` for 0 (or the smallest value if negative)."""

    def __init__(
        self,
        data: Sequence[float | None] = (),
        *,
        maximum: float | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.data = tuple(data)
        self.maximum = maximum

    def validate_data(self, data: Sequence[float | None]) -> tuple[float | None, ...]:
        return tuple(data)

    def chart_lines(self) -> list[str]:
        """The chart as plain text at the widget's current size."""
        width, height = self.content_size
        return render_sparkline(
            self.data, width, height, minimum=self.minimum, maximum=self.maximum
        )

    def render(self) -> RenderResult:
        return Content("\n".join(self.chart_lines())).stylize(
            self.get_visual_style("spark-chart--bar", partial=True)
        )
