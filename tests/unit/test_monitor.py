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
