"""The detail chart: one metric for both colours over 1 m / 5 m / 15 m / 1 h / all, with the alarm
thresholds as lines and markers at actions, outside changes, alarms and bake verdicts.

Data comes from the flight recording (``console.recording``), read in a thread worker and
downsampled with min/max (a spike is never averaged away); it is read again whenever the app
applies a new frame while the chart is open. Without a recording (``--no-record``, or recording
off) the chart falls back to the in-memory history of the dashboard (its last few hundred samples,
no markers) and says so in its title.

``ChartScreen`` takes a recording path, a service name and a ``now`` callable rather than the live
app, so a replay can open it at its recorded time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.signal import Signal
from textual.timer import Timer
from textual.widgets import Static

from backends.base import COLOURS
from console.model import METRIC_KEYS, metric
from console.recorder import RecordingError
from console.recording import Event, Recording
from widgets.metric_chart import (
    COLOURS as RGB_COLOURS,
)
from widgets.metric_chart import (
    LEVEL_RGB,
    MARKER_SYMBOLS,
    ChartSeries,
    ChartView,
    Marker,
    MetricChart,
    Threshold,
)

RANGES: tuple[tuple[str, float | None], ...] = (
    ("1m", 60.0),
    ("5m", 300.0),
    ("15m", 900.0),
    ("1h", 3600.0),
    ("all", None),
)
"""The chart's ranges: a name and its length in seconds (None: everything recorded)."""

DEFAULT_RANGE = "15m"
ACTION_KINDS = ("switch", "rollback", "drain", "ready", "weights")


@dataclass(frozen=True)
class MemoryHistory:
    """The in-memory fallback, copied from ``console.views.History`` on the UI thread: the times of
    the last samples and, per (colour, metric), their values."""

    times: tuple[float, ...]
    values: Mapping[tuple[str, str], tuple[float | None, ...]]
    capacity: int
    rules: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ChartResult:
    view: ChartView
    title: str
    error: str = ""  # the recording could not be read: why
    note: str = ""  # said instead of the list of markers


# ---------------------------------------------------------------------- pure parts


def memory_from(history: Any, rules: Sequence[Any]) -> MemoryHistory:
    """Copy ``history`` (a ``console.views.History``) and the alarm ``rules`` (``AlarmRule``) for
    the fallback chart. On the UI thread, which owns the history."""
    return MemoryHistory(
        history.times(),
        {(c.value, k): history.series(c, k) for c in COLOURS for k in METRIC_KEYS},
        history.size,
        tuple(
            {
                "metric": r.metric,
                "warning": r.warning,
                "critical": r.critical,
                "colours": [str(c) for c in r.colours],
            }
            for r in rules
        ),
    )


def thresholds(rules: Sequence[Mapping[str, Any]], key: str) -> tuple[Threshold, ...]:
    """The warning and critical lines of every rule on ``key`` (a recording's
    ``settings["rules"]``)."""
    m = metric(key)
    out: list[Threshold] = []
    for rule in rules:
        if (rule.get("metric") or rule.get("name")) != key:
            continue
        colours = list(rule.get("colours") or [])
        only = f" ({', '.join(colours)})" if colours and len(set(colours)) < len(COLOURS) else ""
        for level in ("warning", "critical"):
            value = rule.get(level)
            if value is None:
                continue
            out.append(Threshold(level, float(value), f"{level} {m.text(float(value))}{only}"))
    return tuple(out)


def markers(events: Sequence[Event], key: str) -> tuple[Marker, ...]:
    """The events worth a line on the chart of ``key``: actions, outside changes, the alarms of
    that metric raised and cleared, and bake verdicts."""
    out: list[Marker] = []
    for e in events:
        if e.kind == "action":
            action = str(e.data.get("action") or "")
            kind = action if action in MARKER_SYMBOLS else "switch"
            out.append(Marker(e.t, kind, "info" if e.level == "ok" else "error", e.message))
        elif e.kind == "external":
            out.append(Marker(e.t, "external", "warning", e.message))
        elif e.kind == "alarm" and e.metric == key and e.data.get("reason"):
            # ended with the colour's traffic (a rollback away from it): not "cleared"
            out.append(Marker(e.t, "ended", "info", e.message))
        elif e.kind == "alarm" and e.metric == key:
            raised = e.data.get("change") != "cleared"
            level = (e.level or "warning") if raised else "ok"
            text = e.message if raised else f"cleared: {e.colour} {metric(key).label} back to ok"
            out.append(Marker(e.t, "raised" if raised else "cleared", level, text))
        elif e.kind == "bake" and e.level in ("passed", "failed"):
            out.append(Marker(e.t, "bake", e.level, e.message))
    return tuple(out)


def window(span: float | None, now: float, first: float | None) -> tuple[float, float]:
    """[start, end] of a range ending at ``now``; "all" starts at the first sample."""
    if span is None:
        start = first if first is not None and first < now else now - 60.0
        return start, now
    return now - span, now


def columns_for(start: float, end: float, width: int, interval: float) -> int:
    """How many columns to downsample to: about the chart's width, but never narrower than a poll
    (a column with no poll in it would draw as a gap)."""
    polls = (end - start) / max(interval, 1e-3)
    return max(2, min(width, int(polls / 1.5) if polls >= 3 else 2))


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S")


def range_title(
    name: str, start: float, end: float, everything: str = "everything recorded"
) -> str:
    span = everything if name == "all" else f"last {name.replace('m', ' min')}"
    span = span.replace("1h", "1 h")
    return f"{span}  {_clock(start)} – {_clock(end)} {time.strftime('%Z')}".rstrip()


def view_from_recording(
    rec: Recording,
    service: str | None,
    key: str,
    range_name: str,
    now: float,
    width: int,
) -> ChartResult:
    """The chart of ``key`` for ``service`` in ``rec`` over ``range_name`` ending at ``now``."""
    svc = rec.service(service)
    span = dict(RANGES)[range_name]
    start, end = window(span, now, svc.first)
    settings = svc.info.settings
    interval = float(settings.get("poll_interval") or 1.0)
    buckets = columns_for(start, end, width, interval)
    series = rec.series(svc, key, start, end, buckets)
    m = metric(key)
    lines = tuple(
        ChartSeries(
            c.value,
            tuple((b.start + b.end) / 2 for b in series[c]),
            tuple(b.low for b in series[c]),
            tuple(b.high for b in series[c]),
        )
        for c in COLOURS
    )
    events = rec.events(svc, start, end, ("action", "external", "alarm", "bake"))
    present = any(v is not None for s in lines for v in s.high)
    view = ChartView(
        metric=key,
        unit=m.unit,
        start=start,
        end=end,
        series=lines,
        thresholds=thresholds(settings.get("rules") or (), key),
        markers=markers(events, key),
        decimals=m.decimals,
        message="" if present else "no data in this range",
    )
    title = f"{svc.name} · {m.label} · {range_title(range_name, start, end)}"
    if rec.damage:
        title += " · recording damaged: read up to the damage"
    return ChartResult(view, title)


def view_from_memory(
    mem: MemoryHistory, service: str, key: str, range_name: str, now: float, width: int
) -> ChartResult:
    """The fallback: the dashboard's last ``mem.capacity`` samples, one column per sample or per
    group of samples (min/max), no markers."""
    span = dict(RANGES)[range_name]
    first = mem.times[0] if mem.times else None
    start, end = window(span, now, first)
    times = mem.times
    interval = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 1.0
    buckets = columns_for(start, end, width, interval)
    wide = max(1e-3, (end - start) / buckets)
    m = metric(key)
    lines = []
    for c in COLOURS:
        lo: list[float | None] = [None] * buckets
        hi: list[float | None] = [None] * buckets
        for t, v in zip(mem.times, mem.values.get((c.value, key), ()), strict=False):
            if v is None or not math.isfinite(v) or not start <= t <= end:
                continue
            i = min(buckets - 1, int((t - start) / wide))
            lo[i] = v if lo[i] is None else min(lo[i] or 0.0, v)
            hi[i] = v if hi[i] is None else max(hi[i] or 0.0, v)
        lines.append(
            ChartSeries(
                c.value,
                tuple(start + (i + 0.5) * wide for i in range(buckets)),
                tuple(lo),
                tuple(hi),
            )
        )
    present = any(v is not None for s in lines for v in s.high)
    view = ChartView(
        metric=key,
        unit=m.unit,
        start=start,
        end=end,
        series=tuple(lines),
        thresholds=thresholds(mem.rules, key),
        decimals=m.decimals,
        message="" if present else "no data yet",
    )
    title = (
        f"{service} · {m.label} · {range_title(range_name, start, end, 'all')} · not recorded: "
        f"only the last {mem.capacity} samples are in memory"
    )
    return ChartResult(view, title, note="no markers: they come from the recording (--no-record?)")


def legend(view: ChartView) -> Content:
    """One line under the chart: what each line and letter means."""
    parts: list[Content] = []
    for c, rgb in RGB_COLOURS.items():
        parts.append(Content.styled(f"━ {c}", f"rgb{rgb}"))
    parts.append(Content("(max; min dimmer)"))
    for th in view.thresholds:
        parts.append(Content.styled(f"── {th.label}", f"rgb{LEVEL_RGB[th.level]}"))
    seen: dict[str, Marker] = {}
    for mk in view.markers:
        seen.setdefault(mk.kind, mk)
    words = {
        "switch": "switch",
        "rollback": "rollback",
        "drain": "drain",
        "ready": "ready",
        "weights": "weights",
        "external": "outside change",
        "raised": "alarm",
        "cleared": "cleared",
        "ended": "ended (no traffic)",
        "bake": "bake",
    }
    for kind, mk in seen.items():
        parts.append(
            Content.styled(f"{mk.symbol} {words.get(kind, kind)}", f"rgb{LEVEL_RGB[mk.level]}")
        )
    return Content("  ").join(parts)


def event_lines(view: ChartView, count: int) -> Content:
    """The last ``count`` markers in range, in words, oldest first."""
    shown = [m for m in view.markers if view.start <= m.t <= view.end][-count:]
    if not shown:
        return Content("no switch, drain, rollback or alarm in this range")
    rows = []
    for m in shown:
        head = Content.styled(f"{_clock(m.t)} {m.symbol}", f"bold rgb{LEVEL_RGB[m.level]}")
        rows.append(head + Content(f" {m.text}"))
    return Content("\n").join(rows)


# ---------------------------------------------------------------------- the screen


class ChartScreen(ModalScreen[None]):
    """The detail chart of one metric. Keys: 1-4 pick the metric, m cycles it, left / right pick
    a shorter / longer range, t cycles the range, Escape (or c, q) closes."""

    DEFAULT_CSS = """
    ChartScreen { align: center middle; }
    ChartScreen > Vertical {
        width: 100%; height: 100%; padding: 0 1; background: $surface;
    }
    ChartScreen .chart--title { text-style: bold; height: auto; max-height: 2; }
    ChartScreen .chart--ranges { height: 1; color: $text-muted; }
    ChartScreen .chart--legend { height: auto; max-height: 2; }
    ChartScreen .chart--events { height: auto; max-height: 4; }
    ChartScreen .chart--keys { height: 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("c", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
        Binding("left", "range(-1)", "Shorter", show=False),
        Binding("right", "range(1)", "Longer", show=False),
        Binding("t", "range(1, True)", "Range", show=False),
        Binding("m", "next_metric", "Metric", show=False),
        Binding("1", "metric(0)", show=False),
        Binding("2", "metric(1)", show=False),
        Binding("3", "metric(2)", show=False),
        Binding("4", "metric(3)", show=False),
    ]

    def __init__(
        self,
        service: str,
        now: Callable[[], float],
        *,
        recording: str | Path | None = None,
        flush: Callable[[], object] | None = None,
        memory: Callable[[], MemoryHistory] | None = None,
        frames: Signal[Any] | None = None,
        metric_key: str = "error_pct",
        range_name: str = DEFAULT_RANGE,
    ) -> None:
        """
        Args:
            service: the service to chart (its name in the recording).
            now: the chart's right edge: the clock, or a replay's recorded time.
            recording: the recording to read; None: use ``memory``.
            flush: called in the worker before reading (the live recorder's ``flush``), so the
                last frames are in the file.
            memory: the fallback without a recording: copies the dashboard's history (called on
                the UI thread).
            frames: a signal published with every frame the app applies: the chart reads again.
            metric_key: the metric to show first.
            range_name: the range to show first (a name in RANGES).
        """
        super().__init__()
        self.service = service
        self._now = now
        self.recording = Path(recording) if recording is not None else None
        self._flush = flush
        self._memory = memory
        self._frames = frames
        self.metric_key = metric_key if metric_key in METRIC_KEYS else "error_pct"
        self.range_name = range_name if range_name in dict(RANGES) else DEFAULT_RANGE
        self.result: ChartResult | None = None
        self.reads = 0  # views applied (tests wait on it)
        self._reading = False
        self._again = False
        self._read_at = -1e9  # monotonic time the last read started
        self._cost = 0.0  # seconds the last read took
        self._deferred: Timer | None = None  # a read put off by _on_frame

    def compose(self) -> ComposeResult:
        with Vertical(id="chart"):
            yield Static("", classes="chart--title", id="chart-title", markup=False)
            yield Static("", classes="chart--ranges", id="chart-ranges")
            yield MetricChart(id="chart-plot")
            yield Static("", classes="chart--legend", id="chart-legend")
            yield Static("", classes="chart--events", id="chart-events")
            yield Static(
                "[b]1[/b]-[b]4[/b] rate / error % / p99 / sessions   [b]m[/b] next metric   "
                "[b]←[/b] [b]→[/b] range   [b]Esc[/b] close",
                classes="chart--keys",
            )

    def on_mount(self) -> None:
        self._draw_ranges()
        if self._frames is not None:
            self._frames.subscribe(self, self._on_frame)
        self.reload()

    def on_resize(self) -> None:
        self.reload()

    # ------------------------------------------------------------------ keys

    def action_range(self, step: int, wrap: bool = False) -> None:
        names = [n for n, _ in RANGES]
        i = names.index(self.range_name) + step
        i = i % len(names) if wrap else max(0, min(len(names) - 1, i))
        if names[i] != self.range_name:
            self.range_name = names[i]
            self._draw_ranges()
            self.reload()

    def action_metric(self, index: int) -> None:
        key = METRIC_KEYS[index % len(METRIC_KEYS)]
        if key != self.metric_key:
            self.metric_key = key
            self._draw_ranges()
            self.reload()

    def action_next_metric(self) -> None:
        self.action_metric(METRIC_KEYS.index(self.metric_key) + 1)

    def _draw_ranges(self) -> None:
        parts = []
        for name, _ in RANGES:
            parts.append(f"[reverse] {name} [/]" if name == self.range_name else f" {name} ")
        metrics = []
        for i, key in enumerate(METRIC_KEYS, 1):
            label = metric(key).label
            metrics.append(
                f"[reverse] {i} {label} [/]" if key == self.metric_key else f" {i} {label} "
            )
        self.query_one("#chart-ranges", Static).update(" ".join(parts) + "   " + "".join(metrics))

    # ------------------------------------------------------------------ reading

    def _on_frame(self, _frame: object) -> None:
        """A new frame: read again, unless reading is so slow (``all`` of a day's recording) that
        doing it every poll would keep a core busy: then at most a tenth of the time goes to it."""
        wait = self._read_at + 10 * self._cost - time.monotonic()
        if wait <= 0:
            self.reload()
        elif self._deferred is None:
            self._deferred = self.set_timer(wait, self._deferred_reload)

    def _deferred_reload(self) -> None:
        self._deferred = None
        self.reload()

    def reload(self) -> None:
        """Read the chart again, in a thread worker; one read at a time (a request while one runs
        is served by one more read when it ends)."""
        if not self.is_mounted:
            return
        if self._reading:
            self._again = True
            return
        self._reading, self._again = True, False
        width = max(10, self.query_one(MetricChart).size.width - 12)
        memory = self._memory() if self._memory is not None else None
        self._read(self.metric_key, self.range_name, self._now(), width, memory)

    @work(thread=True, group="chart", exit_on_error=False)
    def _read(
        self, key: str, range_name: str, now: float, width: int, memory: MemoryHistory | None
    ) -> None:
        started = time.monotonic()
        self._read_at = started
        problem = ""
        result: ChartResult | None = None
        if self.recording is not None:
            try:
                if self._flush is not None:
                    self._flush()
                with Recording(self.recording) as rec:
                    result = view_from_recording(rec, self.service, key, range_name, now, width)
            except (RecordingError, OSError) as exc:
                problem = str(exc)
        if result is None and memory is not None:
            result = view_from_memory(memory, self.service, key, range_name, now, width)
        if result is None:
            message = "cannot read the recording" if problem else "nothing to chart"
            result = ChartResult(ChartView(metric=key, message=message), self.service)
        if problem:
            result = ChartResult(result.view, result.title, problem, result.note)
        self._cost = time.monotonic() - started
        self.app.call_from_thread(self._show, result)

    def _show(self, result: ChartResult) -> None:
        self._reading = False
        if self.is_mounted:
            self.result = result
            self.reads += 1
            self.query_one("#chart-title", Static).update(result.title)
            self.query_one(MetricChart).view = result.view
            self.query_one("#chart-legend", Static).update(legend(result.view))
            events = event_lines(result.view, 4)
            if result.note:
                events = Content.styled(result.note, "italic")
            if result.error:
                events = Content.styled(result.error, "bold red")
            self.query_one("#chart-events", Static).update(events)
        if self._again:
            self.reload()

    def on_worker_state_changed(self, event: Any) -> None:
        if event.worker.group == "chart" and event.worker.error is not None:
            self._reading = False
            self.query_one("#chart-events", Static).update(
                Content.styled(f"chart: {event.worker.error}", "bold red")
            )
