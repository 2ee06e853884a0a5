"""One metric of a colour panel: its label, its value as a large figure, and its recent history.

In a ``-compact`` ancestor (a short terminal) the block shrinks to one row: label, value in bold with
its unit, and a one-row sparkline.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult, RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Digits, Static

from widgets._common import LEVELS, MISSING, update_if_changed
from widgets.sparkline import SparkChart

PENDING_MARK = "▴"
"""Shown after the label while a breach is under way but has not lasted long enough to fire."""

LEVEL_STYLE = {"ok": "bold", "warning": "bold $warning", "critical": "bold $error"}


@dataclass(frozen=True)
class MetricView:
    """What a panel shows of one metric, already formatted.

    Attributes:
        key: a stable id ("rate", "error_pct", ...); blocks are matched by it between updates.
        label: a short name ("error %"); about 9 cells fit.
        value: the formatted figure ("23.1"), or "" / "—" when there is none. Keep it to about six
            characters (e.g. "1234.5", "12.3k") so the large figure fits.
        unit: the unit ("req/s", "ms", "%"), or "".
        level: "ok" | "warning" | "critical".
        pending: a breach is under way but has not fired yet.
        history: recent values, oldest first; None where there was no sample.
        note: a word on the value ("no traffic", "p95"); shown in place of a missing value.
        scale_floor: the sparkline's top is at least this (e.g. the alarm threshold), so a healthy
            0.2 % error rate draws low instead of filling the chart.
    """

    key: str
    label: str
    value: str
    unit: str
    level: str = "ok"  # "ok" | "warning" | "critical"
    pending: bool = False
    history: tuple[float | None, ...] = ()
    note: str = ""
    scale_floor: float | None = None


def is_missing(value: str) -> bool:
    """True when ``value`` means there is no figure to show."""
    return value.strip() in MISSING


def label_content(metric: MetricView) -> Content:
    """The label column: the label (with the pending mark), the unit, then any note; one per line.

    A compact block shows only the first line.
    """
    first = Content.styled(metric.label, "bold")
    if metric.pending:
        first += Content.styled(f" {PENDING_MARK}", "$warning")
    note = metric.note if not is_missing(metric.value) else ""
    return Content("\n").join(
        [first, Content.styled(metric.unit, "dim"), Content.styled(note, "dim italic")]
    )


def missing_content(metric: MetricView) -> Content:
    """The figure column when there is no value: a dash, and the note under it (three rows)."""
    return Content("\n").join(
        [Content(""), Content.styled("—", "bold"), Content.styled(metric.note, "dim italic")]
    )


def compact_value_content(metric: MetricView, value_width: int = 7) -> Content:
    """The one-row value: the figure in bold, right-aligned in ``value_width`` cells, then the unit.

    With no figure: a dash and the note.
    """
    if is_missing(metric.value):
        return Content.assemble(("—", "bold"), " ", (metric.note, "dim italic"))
    value = Content.styled(metric.value.strip(), LEVEL_STYLE.get(metric.level, "bold"))
    return value.pad_left(max(0, value_width - value.cell_length)) + Content.styled(
        f" {metric.unit}", "dim"
    )


class _Text(Widget):
    """A fixed-size line whose content changes often: a repaint, never a relayout (unlike Static)."""

    content: reactive[Content] = reactive(Content(""))

    def render(self) -> RenderResult:
        return self.content


class MetricBlock(Widget):
    """A metric's label, large figure and sparkline; updates in place when ``metric`` changes.

    Classes set from the data: ``-warning`` / ``-critical`` (level), ``-missing`` (no value),
    ``-pending``.
    """

    DEFAULT_CSS = """
    MetricBlock {
        layout: horizontal;
        height: 3;
        width: 1fr;
        & > .mb-label { width: 10; height: 3; }
        & > .mb-figure { width: 16; height: 3; text-align: right; }
        & > .mb-missing { width: 16; height: 3; text-align: right; display: none; }
        & > .mb-text { width: 14; height: 1; display: none; }
        & > .mb-spark { height: 3; margin-left: 1; }
        &.-missing > .mb-figure { display: none; }
        &.-missing > .mb-missing { display: block; }
        &.-warning > .mb-figure { color: $warning; text-style: bold; }
        &.-critical > .mb-figure { color: $error; text-style: bold; }
        &.-warning > SparkChart.mb-spark { color: $warning; }
        &.-critical > SparkChart.mb-spark { color: $error; }
        /* NO_COLOR turns $error into a grey darker than the normal text: reverse it instead. */
        &.-critical:nocolor > .mb-figure { color: $foreground; text-style: bold reverse; }
        &.-critical:nocolor > .mb-text { text-style: bold reverse; }
    }
    """

    metric: reactive[MetricView | None] = reactive(
        None, repaint=False
    )  # the children repaint themselves
    """The metric shown; ``None`` draws an empty block."""

    def __init__(
        self,
        metric: MetricView | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._label = Static(classes="mb-label")
        self._figure = Digits(classes="mb-figure")
        self._missing = Static(classes="mb-missing")
        self._text = _Text(classes="mb-text")
        self._spark = SparkChart(classes="mb-spark")
        self.metric = metric

    def compose(self) -> ComposeResult:
        yield self._label
        yield self._figure
        yield self._missing
        yield self._text
        yield self._spark

    def watch_metric(self, metric: MetricView | None) -> None:
        metric = metric or MetricView(key="", label="", value="", unit="")
        for level in LEVELS[1:]:
            self.set_class(metric.level == level, f"-{level}")
        missing = is_missing(metric.value)
        self.set_class(missing, "-missing")
        self.set_class(metric.pending, "-pending")
        update_if_changed(self._label, label_content(metric))
        if not missing and self._figure.value != metric.value.strip():
            self._figure.update(metric.value.strip())
        update_if_changed(self._missing, missing_content(metric))
        self._text.content = compact_value_content(metric)
        if metric.scale_floor is not None:
            seen = [v for v in metric.history if v is not None]
            self._spark.maximum = max([metric.scale_floor, *seen])
        else:
            self._spark.maximum = None
        self._spark.data = metric.history
