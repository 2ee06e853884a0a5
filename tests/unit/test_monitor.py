"""The poll pipeline: outside changes are reported once and only when routing really changed; a poll
that straddles an action does not undo what the action read back."""

from __future__ import annotations

import threading
import time

from backends.base import Colour
from console.monitor import Monitor


def test_a_poll_straddling_an_action_does_not_report_our_own_switch(runtime):
    monitor = Monitor(runtime)
    monitor.poll()
    world = runtime.router.world
    world.set_fault("metrics", "hang")  # the router answers, the metrics source is slow
    result = {}
    poller = threading.Thread(target=lambda: result.setdefault("frame", monitor.poll()))
    poller.start()
    time.sleep(0.2)  # the poll has read the router (blue live) and waits on metrics
    monitor.observe_action(runtime.router.switch(Colour.GREEN))  # the user's switch lands meanwhile
    world.set_fault("metrics", None)
    poller.join(timeout=10)
    frame = result["frame"]
    assert frame.snapshot.external_change is None
    assert frame.snapshot.live == Colour.GREEN
    assert monitor.poll().snapshot.external_change is None


def test_outside_changes_are_reported_each_time_even_back_to_our_own_state(runtime):
    monitor = Monitor(runtime)
    monitor.poll()
    monitor.observe_action(runtime.router.switch(Colour.GREEN))
    assert monitor.poll().snapshot.external_change is None  # our own switch
    runtime.router.switch(Colour.BLUE)  # someone else flips back...
    assert "live green → blue" in monitor.poll().snapshot.external_change
    runtime.router.switch(Colour.GREEN)  # ...and forth, to the state we once left it in
    assert "live blue → green" in monitor.poll().snapshot.external_change


def test_server_health_is_not_a_routing_change(runtime):
    monitor = Monitor(runtime)
    monitor.poll()
    world = runtime.router.world
    with world._lock:
        world._sides[Colour.GREEN].down = {"green-1"}
    frame = monitor.poll()
    assert frame.snapshot.external_change is None
    assert frame.snapshot.router.colour(Colour.GREEN).healthy_servers == 2


def test_a_metrics_source_that_never_answered_leaves_the_panels_stale(runtime):
    from console.views import History, panel_view

    runtime.metrics.world.set_fault("metrics", "down")
    monitor = Monitor(runtime)
    frame = monitor.poll()
    view = panel_view(frame, Colour.BLUE, History(), frame.snapshot.time, stale_after=3)
    assert view.stale and view.age_text == "no data yet"
    assert "metrics: simulated metrics source is down" in view.error


# ------------------------------------------------------------------------------------------------
# Durations run on the monotonic clock: a step of the wall clock (NTP, `date -s`) moves no window.


def _baking(runtime, clock, seconds: float = 6.0):
    from console.model import BakeVerdict

    monitor = Monitor(runtime)
    monitor.poll()
    monitor.observe_action(runtime.router.switch(Colour.GREEN))
    for _ in range(int(seconds)):
        clock.advance(1.0)
        frame = monitor.poll()
    assert frame.bake.verdict == BakeVerdict.BAKING
    return monitor


def test_a_wall_clock_step_forward_does_not_pass_a_running_bake(runtime, clock):
    from console.model import BakeVerdict
    from console.views import bake_view, header_view

    monitor = _baking(runtime, clock)
    clock.step_wall(3600.0)
    clock.advance(1.0)
    frame = monitor.poll()
    assert frame.bake.verdict == BakeVerdict.BAKING
    assert frame.to_json()["bake"]["remaining"] == 53.0
    assert bake_view(frame, clock()).remaining_s == 53.0
    assert header_view(frame, "shop", "simulator", clock(), False, "").since_switch == "7s"
    assert frame.to_json()["time"] == clock()  # records keep the wall time


def test_a_wall_clock_step_back_does_not_lengthen_a_running_bake(runtime, clock):
    from console.views import bake_view

    monitor = _baking(runtime, clock)
    clock.step_wall(-3600.0)
    clock.advance(1.0)
    frame = monitor.poll()
    assert frame.to_json()["bake"]["remaining"] == 53.0
    assert bake_view(frame, clock()).remaining_s == 53.0  # not 60:53


def test_ages_do_not_follow_a_wall_clock_step(runtime, clock):
    from console.fmt import format_age
    from console.views import History, panel_view

    monitor = Monitor(runtime)
    monitor.poll()
    clock.advance(1.0)
    runtime.metrics.world.set_fault("metrics", "down")
    clock.step_wall(-3600.0)
    frame = monitor.poll()
    assert frame.to_json()["metrics_age"] == 1.0
    view = panel_view(frame, Colour.BLUE, History(), clock(), stale_after=3)
    assert view.age_text == format_age(1.0) and not view.stale


def test_a_restarted_console_converts_the_recorded_switch_once(runtime, clock, audit):
    """The audit log holds wall time only: the resumed window counts from wall-now minus wall-then,
    then runs on the monotonic clock."""
    from console.model import BakeVerdict

    runtime.router.switch(Colour.GREEN)
    audit.append(
        service="shop",
        router="simulator",
        action="switch",
        target="green",
        result="ok",
        before={"live": "blue"},
        after={"live": "green"},
    )
    clock.advance(10.0)
    monitor = Monitor(runtime, audit)
    frame = monitor.poll()
    assert frame.bake.verdict == BakeVerdict.BAKING
    assert frame.to_json()["bake"]["remaining"] == 50.0
    clock.step_wall(3600.0)
    frame = monitor.poll()
    assert frame.bake.verdict == BakeVerdict.BAKING
    assert frame.to_json()["bake"]["remaining"] == 50.0


# ------------------------------------------------------------------------------------------------
# Routing invariants: a critical alarm on the first poll that sees them, whoever caused them.


def test_the_live_colour_drained_from_outside_is_critical_on_the_next_poll_even_without_metrics(
    runtime,
):
    from console.model import Level

    monitor = Monitor(runtime)
    assert not monitor.poll().alarms.firing
    runtime.metrics.world.set_fault("metrics", "down")  # no fresh figures: rules hold
    runtime.router.drain(Colour.BLUE)  # someone drains the live colour
    frame = monitor.poll()
    (alarm,) = frame.alarms.firing
    assert (alarm.level, alarm.colour, alarm.invariant) == (Level.CRITICAL, Colour.BLUE, True)
    assert (
        alarm.message.startswith("CRITICAL blue is live and drained: ") and "503" in alarm.message
    )
    runtime.router.ready(Colour.BLUE)
    assert not monitor.poll().alarms.firing


def test_a_broken_invariant_read_back_by_an_action_is_alarmed_in_the_action_frame(runtime):
    monitor = Monitor(runtime)
    monitor.poll()
    frame = monitor.observe_action(runtime.router.drain(Colour.BLUE))
    assert [a.rule for a in frame.alarms.firing] == ["invariant:live_drained"]
    assert [e.raised for e in frame.alarms.events] == [True]
