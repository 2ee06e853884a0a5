"""Preflight refuses with the reason; execution reads back; a router changed meanwhile is not overwritten;
a hung backend times out instead of freezing anything."""

from __future__ import annotations

import threading
import time

import pytest

from backends.base import ActionRefused, BackendTimeout, Colour
from console.actions import ActionController
from console.guard import Guard


def test_switch_refuses_a_no_op_a_draining_target_and_one_with_no_healthy_server(runtime, audit):
    ctl = ActionController(runtime, audit)
    with pytest.raises(ActionRefused, match="blue is already live: nothing to switch"):
        ctl.plan("switch", Colour.BLUE)
    runtime.router.drain(Colour.GREEN)
    with pytest.raises(ActionRefused, match="green is draining: ready it first"):
        ctl.plan("switch")
    runtime.router.ready(Colour.GREEN)
    world = runtime.router.world
    with world._lock:
        side = world._sides[Colour.GREEN]
        side.down = set(side.servers)  # every green server fails its health check
    with pytest.raises(ActionRefused, match="green has no healthy server"):
        ctl.plan("switch")
    assert runtime.router.state().live == Colour.BLUE


def test_a_change_between_confirmation_and_execution_is_refused_not_overwritten(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    runtime.router.drain(Colour.GREEN)  # another operator, while the dialog was open
    outcome = ctl.execute(plan)
    assert not outcome.ok
    assert "the routing changed since the preflight (green drained)" in outcome.message
    assert runtime.router.state().live == Colour.BLUE
    assert audit.last_switch("shop") is None


def test_a_read_back_that_differs_is_a_failure_not_done(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    real_switch = runtime.router.switch
    runtime.router.switch = lambda to: real_switch(to.other)  # a router that ignores us
    outcome = ctl.execute(plan)
    assert (
        not outcome.ok and "asked for green live, but the router reads back blue" in outcome.message
    )
    assert outcome.audit["result"] == "failed"


def test_drain_defaults_to_the_idle_colour_and_ready_undoes_it(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("drain")
    assert plan.target == Colour.GREEN
    assert ctl.execute(plan).ok
    assert runtime.router.state().colour(Colour.GREEN).draining
    with pytest.raises(ActionRefused, match="already draining"):
        ctl.plan("drain")
    assert ctl.execute(ctl.plan("ready")).ok
    assert not runtime.router.state().colour(Colour.GREEN).draining


def test_weights_are_planned_and_read_back(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("weights", weights={Colour.GREEN: 10, Colour.BLUE: 90})
    assert "green: 0% → 10%" in plan.lines
    assert ctl.execute(plan).ok
    assert runtime.router.state().colour(Colour.GREEN).weight == 10


def test_the_guard_times_out_a_hung_call_and_refuses_the_next_until_it_returns():
    guard = Guard("test router", timeout=0.2)
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(BackendTimeout, match="no answer within 0.2s"):
        guard.call(release.wait, 5)
    assert time.monotonic() - started < 1.0
    with pytest.raises(BackendTimeout, match="an earlier call has not returned"):
        guard.call(lambda: 1)
    release.set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            assert guard.call(lambda: 42) == 42
            break
        except BackendTimeout:
            time.sleep(0.01)
    else:
        pytest.fail("the guard never recovered")
    guard.close()


def test_the_guard_wraps_unexpected_exceptions():
    guard = Guard("r", timeout=1)
    with pytest.raises(Exception, match=r"r: ZeroDivisionError"):
        guard.call(lambda: 1 / 0)
    guard.close()


def test_a_health_flap_after_the_preflight_does_not_block_the_switch(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    world = runtime.router.world
    with world._lock:
        world._sides[Colour.GREEN].down = {"green-1"}  # one green server flaps: 2/3 still healthy
    assert ctl.execute(plan).ok


def test_a_switch_that_happened_despite_an_error_is_read_back_and_audited(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    real_switch = runtime.router.switch

    def switch_then_fail(to):
        real_switch(to)
        raise ActionRefused("map file not rewritten")  # HAProxy switched, the file write failed

    runtime.router.switch = switch_then_fail
    outcome = ctl.execute(plan)
    assert not outcome.ok
    assert outcome.after is not None and outcome.after.live == Colour.GREEN
    assert outcome.audit["result"] == "failed" and outcome.audit["after"]["live"] == "green"


def test_rollback_undoes_a_switch_that_happened_despite_an_error(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    real_switch = runtime.router.switch

    def switch_then_fail(to):
        real_switch(to)
        raise ActionRefused("map file not rewritten")

    runtime.router.switch = switch_then_fail
    ctl.execute(plan)
    runtime.router.switch = real_switch
    rollback = ctl.plan("rollback")
    assert rollback.target == Colour.BLUE


def test_an_outcome_carries_the_frame_its_read_back_produced(runtime, audit):
    from console.model import BakeVerdict
    from console.monitor import Monitor

    monitor = Monitor(runtime)
    monitor.poll()
    ctl = ActionController(runtime, audit, monitor.observe_action)
    outcome = ctl.execute(ctl.plan("switch"))
    assert outcome.ok and outcome.frame is not None
    assert outcome.frame.snapshot.live == Colour.GREEN
    assert (
        outcome.frame.bake.verdict == BakeVerdict.BAKING
        and outcome.frame.bake.colour == Colour.GREEN
    )
    assert monitor.poll().snapshot.external_change is None  # the Monitor absorbed our own switch
    assert not hasattr(monitor, "last_frame")  # nothing pulls frames back out of the poller
    # Without an observer (the headless CLI) the outcome has no frame.
    bare = ActionController(runtime, audit)
    assert bare.execute(bare.plan("switch")).frame is None


def test_a_failure_that_changed_nothing_carries_no_frame_one_that_did_carries_it(runtime, audit):
    from console.monitor import Monitor

    monitor = Monitor(runtime)
    ctl = ActionController(runtime, audit, monitor.observe_action)
    plan = ctl.plan("switch")
    world = runtime.router.world
    with world._lock:
        side = world._sides[Colour.GREEN]
        side.down = set(side.servers)  # every green server fails meanwhile: refused, nothing done
    refused = ctl.execute(plan)
    assert not refused.ok and "no healthy server" in refused.message and refused.frame is None
    with world._lock:
        side.down = set()
    real_switch = runtime.router.switch

    def switch_then_fail(to):
        real_switch(to)
        raise ActionRefused("map file not rewritten")

    runtime.router.switch = switch_then_fail
    failed = ctl.execute(ctl.plan("switch"))
    assert not failed.ok and failed.frame is not None and failed.frame.snapshot.live == Colour.GREEN


def test_drain_again_is_offered_only_when_the_router_says_a_scale_down_is_pending(runtime, audit):
    """A typed fact, not a backend's detail key: Kubernetes sets ``scale_down_pending`` when a drained
    Deployment still waits to be scaled to 0."""
    from dataclasses import replace

    ctl = ActionController(runtime, audit)
    runtime.router.drain(Colour.GREEN)
    with pytest.raises(ActionRefused, match="already draining"):
        ctl.plan("drain", Colour.GREEN)
    real_state = runtime.router.state

    def pending_state():
        st = real_state()
        green = replace(st.colour(Colour.GREEN), scale_down_pending=True)
        return replace(st, colours={**st.colours, Colour.GREEN: green})

    runtime.router.state = pending_state
    assert ctl.plan("drain", Colour.GREEN).target == Colour.GREEN
