"""The detail chart (key c): one metric for both colours over a range, read from the recording
(min/max: a spike is never averaged away), thresholds as lines, markers at actions and alarms;
without a recording, the dashboard's in-memory history, said in the title."""

from __future__ import annotations

import pytest

from backends.base import Colour
from backends.clock import ManualClock
from console.chart import ChartScreen
from console.factory import demo_config
from console.recorder import Recorder
from tests.support.pilot import START, console_app, demo_app, poll, press
from tests.support.recorded import chart_app, record_story, wait_for_chart

SIZE = (100, 30)


async def test_the_chart_opens_switches_range_and_metric_and_closes(tmp_path):
    app = demo_app("bad-release", audit_path=tmp_path / "audit.jsonl")  # not recorded
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 12)
        await pilot.press("c")
        screen = await wait_for_chart(pilot)
        assert screen.metric_key == "error_pct" and screen.range_name == "15m"
        assert screen.result is not None
        title = screen.result.title
        assert "error %" in title and "last 15 min" in title
        assert "only the last 300 samples are in memory" in title  # no recording: said so
        thresholds = {(t.level, t.value) for t in screen.result.view.thresholds}
        assert thresholds == {("warning", 2.0), ("critical", 5.0)}  # the demo's error % rule
        # twelve polls of figures, at the right of a 15-minute axis
        blue = [v for v in screen.result.view.series[0].high if v is not None]
        assert screen.result.view.series[0].colour == "blue" and 1 <= len(blue) <= 12
        assert screen.result.view.end - screen.result.view.start == pytest.approx(900)

        reads = screen.reads
        await pilot.press("left")
        screen = await wait_for_chart(pilot, reads + 1)
        assert screen.range_name == "5m" and "last 5 min" in screen.result.title
        assert screen.result.view.end - screen.result.view.start == pytest.approx(300)

        reads = screen.reads
        await pilot.press("3")
        screen = await wait_for_chart(pilot, reads + 1)
        assert screen.metric_key == "latency_ms" and "p99" in screen.result.title
        assert {t.value for t in screen.result.view.thresholds} == {500.0, 1000.0}

        reads = screen.reads
        await pilot.press("m")  # the next metric: sessions (no rule: no threshold line)
        screen = await wait_for_chart(pilot, reads + 1)
        assert screen.metric_key == "sessions" and screen.result.view.thresholds == ()

        for _ in range(4):
            await pilot.press("right")
        screen = await wait_for_chart(pilot)
        assert screen.range_name == "all"

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ChartScreen)
    app.runtime.close()


async def test_the_live_chart_reads_the_recording_and_follows_new_polls(tmp_path):
    clock = ManualClock(START)
    recorder = Recorder(tmp_path / "rec.sqlite", command="test", wall=clock).start()
    service = demo_config("bad-release", 7, 60.0, 1.0).service[0]
    app = console_app(service, tmp_path / "audit.jsonl", clock=clock, recorder=recorder)
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 10)
        await press(pilot, "s", "y")  # the switch: a marker
        await poll(pilot, 20)  # green's errors climb: the alarm fires, the bake fails
        await pilot.press("c")
        screen = await wait_for_chart(pilot)
        assert screen.result is not None and "in memory" not in screen.result.title
        kinds = [m.kind for m in screen.result.view.markers]
        assert "switch" in kinds and "raised" in kinds and "bake" in kinds, kinds
        assert screen.metric_key == "error_pct"  # the alarming metric first
        end = screen.result.view.end
        reads = screen.reads
        await poll(pilot, 1)  # a new frame while the chart is open: it reads again
        screen = await wait_for_chart(pilot, reads + 1)
        assert screen.result.view.end == pytest.approx(end + 1.0)
        await pilot.press("escape")
    app.runtime.close()


async def test_the_chart_shows_the_spike_a_mean_would_hide(tmp_path):
    """At 15 minutes a column holds about ten polls: the drawn line still reaches the single
    worst poll of green's error %, where the column's mean stays well below it."""
    clock = ManualClock(START)
    path = tmp_path / "rec.sqlite"
    frames = record_story(clock, path)
    green = [
        (f.snapshot.time, f.snapshot.colour_metrics(Colour.GREEN).error_pct)
        for f in frames
        if f.snapshot.time > clock() - 900
    ]
    top_t, top = max(((t, v) for t, v in green if v is not None), key=lambda p: p[1])
    app = chart_app(path, clock())
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_chart(pilot)
        view = screen.result.view
        green_series = view.series[1]
        assert green_series.colour == "green"
        assert max(v for v in green_series.high if v is not None) == pytest.approx(top, abs=0.001)
        plan = screen.query_one("#chart-plot").plan  # the values handed to Plotext
        assert max(plan.line("green max")) == pytest.approx(top, abs=0.001)
        # the column of the spike: its mean is lower, so an average would have hidden the peak
        i = next(i for i, t in enumerate(green_series.times) if abs(t - top_t) <= 5.5)
        width = green_series.times[1] - green_series.times[0]
        lo, hi = green_series.times[i] - width / 2, green_series.times[i] + width / 2
        same = [v for t, v in green if lo <= t < hi and v is not None]
        assert len(same) > 3 and sum(same) / len(same) < top - 0.5
        # thresholds and markers reach Plotext too
        assert {y for y, _ in plan.hlines} == {2.0, 5.0}
        assert len(plan.vlines) == len([m for m in view.markers if view.start <= m.t <= view.end])


def test_chart_snapshot_after_a_bad_release_and_rollback(snap_compare, tmp_path):
    """15 minutes of error %: the switch, the alarm, the failed bake, the rollback, the alarm
    cleared and blue's bake passed, with the warning and critical lines."""
    clock = ManualClock(START)
    path = tmp_path / "rec.sqlite"
    record_story(clock, path)
    app = chart_app(path, clock())

    async def run_before(pilot):
        await wait_for_chart(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_a_recording_that_cannot_be_read_says_why_on_the_chart(tmp_path):
    path = tmp_path / "rec.sqlite"
    path.write_bytes(b"this is the audit log, not a recording\n" * 50)
    app = chart_app(path, START)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_chart(pilot)
        assert screen.result is not None
        assert "not a bluegreen recording" in screen.result.error
        assert screen.result.view.message == "cannot read the recording"
        events = screen.query_one("#chart-events").render()
        assert "not a bluegreen recording" in str(events)


async def test_recording_that_turns_off_is_said_loudly_and_actions_carry_on(tmp_path):
    """A recording path that cannot be written: the log says why and what to do, the header says
    "recording off" and keeps saying it, and a switch still works (the audit log rules actions)."""
    from console.audit import AuditLog
    from widgets import ActionLog, StatusHeader

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the recordings directory should be")
    clock = ManualClock(START)
    recorder = Recorder(blocker / "rec.sqlite", command="watch", wall=clock).start()
    service = demo_config("healthy").service[0]
    app = console_app(service, tmp_path / "audit.jsonl", clock=clock, recorder=recorder)
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 1)
        recorder.flush(10)
        await poll(pilot, 1)
        lines = list(app.query_one(ActionLog).lines_text)
        assert any("recording off:" in ln and "--record PATH" in ln for ln in lines), lines
        assert "recording off" in app.query_one(StatusHeader).view.notice
        await press(pilot, "s", "y")
        assert app.frame.snapshot.live == Colour.GREEN
        assert "recording off" in app.query_one(StatusHeader).view.notice  # still said
    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert any(e.get("action") == "switch" and e.get("result") == "ok" for e in entries)
    app.runtime.close()
