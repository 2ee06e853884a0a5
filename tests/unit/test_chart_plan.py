"""The detail chart's pure parts: what reaches Plotext for a view (gaps, thresholds, markers,
ticks), the thresholds and markers read from a recording's rules and events, and the fallback
from the in-memory history."""

from __future__ import annotations

import pytest

from console.chart import MemoryHistory, markers, thresholds, view_from_memory
from console.recording import Event
from widgets.metric_chart import ChartSeries, ChartView, Marker, nice_step, plan_chart, time_ticks

T0 = 1_767_268_800.0  # 12:00:00 UTC (tests/conftest.py sets TZ=UTC)


def test_a_column_with_nothing_measured_is_a_gap_never_a_zero():
    view = ChartView(
        start=T0,
        end=T0 + 60,
        series=(
            ChartSeries(
                "green", (T0 + 5, T0 + 15, T0 + 25, T0 + 35), (1, None, 3, 4), (2, None, 5, 6)
            ),
        ),
    )
    plan = plan_chart(view, 80, 20)
    maxes = [ln for ln in plan.lines if ln.label == "green max"]
    assert [ln.ys for ln in maxes] == [(2.0, 2.0), (5.0, 6.0)]  # two runs; the lone one a dash
    assert 0.0 not in plan.line("green max")
    assert plan.line("green min") == (1.0, 1.0, 3.0, 4.0)


def test_thresholds_are_in_range_and_markers_become_lines_with_letters():
    view = ChartView(
        start=T0,
        end=T0 + 900,
        series=(ChartSeries("blue", (T0 + 10,), (0.1,), (0.4,)),),
        thresholds=thresholds(
            [{"metric": "error_pct", "warning": 2.0, "critical": 5.0, "colours": ["green"]}],
            "error_pct",
        ),
        markers=(
            Marker(T0 + 600, "switch", "info", "switched"),
            Marker(T0 + 601, "raised", "critical", "CRITICAL"),  # a column apart: stacked lower
            Marker(T0 + 2000, "rollback", "info", "after the end: not drawn"),
        ),
    )
    assert [t.label for t in view.thresholds] == ["warning 2.0% (green)", "critical 5.0% (green)"]
    plan = plan_chart(view, 100, 24)
    assert [y for y, _ in plan.hlines] == [2.0, 5.0]
    assert plan.ylim[1] >= 5.0  # the critical line is inside the chart even with no data near it
    assert [x for x, _ in plan.vlines] == [600.0, 601.0]
    (s, _, ys, _), (bang, _, yb, _) = plan.texts
    assert (s, bang) == ("S", "!") and yb < ys


def test_time_ticks_fall_on_round_wall_times():
    pos, labels = time_ticks(T0 + 7, T0 + 907, 90)
    assert labels[:3] == ("12:02", "12:04", "12:06") and len(labels) <= 9
    assert pos[0] == pytest.approx(113.0)  # 12:02:00 is 113 s after 12:00:07
    _, short = time_ticks(T0, T0 + 60, 90)
    assert short[:2] == ("12:00:00", "12:00:10")
    assert nice_step(37.0, 4) == 10.0 and nice_step(0.9, 4) == 0.25


def _event(t, kind, **kw):
    return Event(t, kind, kw.pop("message", kind), **kw)


def test_markers_are_actions_outside_changes_this_metrics_alarms_and_verdicts():
    events = [
        _event(1, "action", level="ok", data={"action": "switch"}),
        _event(2, "action", level="refused", data={"action": "drain"}),
        _event(3, "external", message="routing changed outside the console"),
        _event(
            4,
            "alarm",
            metric="error_pct",
            level="critical",
            colour="green",
            data={"change": "raised"},
        ),
        _event(
            5,
            "alarm",
            metric="latency_ms",
            level="warning",
            colour="green",
            data={"change": "raised"},
        ),
        _event(
            6, "alarm", metric="error_pct", level="ok", colour="green", data={"change": "cleared"}
        ),
        _event(
            6.5,
            "alarm",
            metric="error_pct",
            level="ok",
            colour="green",
            message="green error % alarm ended: green has no traffic now (not recovered)",
            data={"change": "cleared", "reason": "no traffic"},
        ),
        _event(7, "bake", colour="green"),  # a window started: not a marker
        _event(8, "bake", level="failed", colour="green"),
        _event(9, "router", message="health changed"),
    ]
    got = [(m.t, m.symbol, m.level) for m in markers(events, "error_pct")]
    assert got == [
        (1, "S", "info"),
        (2, "D", "error"),
        (3, "X", "warning"),
        (4, "!", "critical"),
        (6, "✓", "ok"),
        (6.5, "○", "info"),  # ended with its traffic: not drawn as a recovery
        (8, "B", "failed"),
    ]


def test_the_memory_fallback_charts_what_is_kept_and_says_so():
    times = tuple(T0 + i for i in range(300))
    values = {
        ("blue", "error_pct"): tuple(0.1 for _ in times),
        ("green", "error_pct"): (None,) * 299 + (30.0,),
    }
    mem = MemoryHistory(
        times, values, 300, ({"metric": "error_pct", "warning": 2.0, "critical": 5.0},)
    )
    result = view_from_memory(mem, "shop", "error_pct", "1m", T0 + 299, 88)
    assert "only the last 300 samples are in memory" in result.title
    assert "no markers" in result.note
    blue, green = result.view.series
    assert None not in blue.high  # one column per poll at most: no false gap at 1 m
    assert max(v for v in green.high if v is not None) == 30.0
    assert [t.value for t in result.view.thresholds] == [2.0, 5.0]
