"""Armed auto-rollback on the demo's bad release (the simulator under a manual clock, the real
Monitor and ActionController): the countdown, the cancel, the once-per-window promise, the audit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from backends.base import Colour
from backends.clock import ManualClock
from console.actions import ActionController
from console.audit import AuditLog
from console.autorollback import AutoRollback, run
from console.factory import demo_config
from console.model import Frame
from console.monitor import Monitor
from console.runtime import build

BLUE, GREEN = Colour.BLUE, Colour.GREEN


@dataclass
class Stage:
    clock: ManualClock
    monitor: Monitor
    ctl: ActionController
    audit: AuditLog

    def poll(self) -> Frame:
        self.clock.advance(1.0)
        return self.monitor.poll()

    def act(self, action: str) -> Frame:
        out = self.ctl.execute(self.ctl.plan(action))
        assert out.ok, out.message
        assert out.frame is not None
        return out.frame


@pytest.fixture
def stage(tmp_path) -> Iterator[Stage]:
    clock = ManualClock()
    rt = build(demo_config("bad-release", 7, 60.0, 1.0).service[0], clock=clock)
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    mon = Monitor(rt, audit)
    ctl = ActionController(rt, audit, mon.observe_action, command="console")
    st = Stage(clock, mon, ctl, audit)
    for _ in range(3):  # the console has watched blue serve before anyone switches
        st.poll()
    try:
        yield st
    finally:
        mon.close()
        rt.close()


def _until_countdown(stage: Stage, auto: AutoRollback, polls: int = 30) -> tuple[Frame, str]:
    for _ in range(polls):
        frame = stage.poll()
        said = auto.step(frame)
        if auto.countdown is not None:
            return frame, said
    raise AssertionError("no countdown within the polls given")


def test_armed_it_counts_down_then_rolls_back_once_audited_as_auto(stage):
    auto = AutoRollback(armed=True, countdown=5)
    auto.step(stage.act("switch"))
    frame, said = _until_countdown(stage, auto)
    cd = auto.countdown
    assert cd is not None and cd.colour == GREEN
    assert said.startswith("AUTO-ROLLBACK of green in 5 s") and "CRITICAL green error %" in said
    now = frame.snapshot.mono_time
    assert auto.due(now) is None and auto.due(now + 4.9) is None  # still counting
    for _ in range(5):
        auto.step(stage.poll())
    due = auto.due(stage.clock.monotonic())
    assert due is cd
    result = run(stage.ctl, due)
    assert result.ok and result.result == "ok", result.message
    assert (
        result.message.startswith("AUTO-ROLLBACK: ") and "(cause: CRITICAL green" in result.message
    )
    assert stage.poll().snapshot.live == BLUE
    outcome = [e for e in stage.audit.entries() if e["action"] == "rollback"][-1]
    assert outcome["by"] == "auto" and outcome["cause"].startswith("CRITICAL green error %")
    assert outcome["result"] == "ok"
    # never twice for one window: green's alarm is over, and even a new one in it would not count
    assert auto.due(stage.clock.monotonic() + 100) is None


def test_disarmed_it_only_watches(stage):
    auto = AutoRollback(armed=False)
    auto.step(stage.act("switch"))
    for _ in range(20):
        assert auto.step(stage.poll()) == ""
    assert auto.countdown is None and stage.poll().snapshot.live == GREEN


def test_the_cancel_key_stops_it_and_the_window_stays_spent(stage):
    auto = AutoRollback(armed=True, countdown=5)
    auto.step(stage.act("switch"))
    _until_countdown(stage, auto)
    said = auto.cancel("cancelled by the operator")
    assert said == "auto-rollback of green cancelled: cancelled by the operator"
    for _ in range(10):
        auto.step(stage.poll())
        assert auto.countdown is None
    assert auto.due(stage.clock.monotonic() + 100) is None
    assert stage.poll().snapshot.live == GREEN


def test_an_operator_acting_first_cancels_it_with_the_reason(stage):
    auto = AutoRollback(armed=True, countdown=5)
    auto.step(stage.act("switch"))
    _until_countdown(stage, auto)
    said = auto.step(stage.act("rollback"))  # someone pressed r during the countdown
    assert said == (
        "auto-rollback of green cancelled: the live colour is blue now: someone acted before it did"
    )
    assert auto.due(stage.clock.monotonic() + 100) is None


def test_a_zero_countdown_is_due_at_once(stage):
    auto = AutoRollback(armed=True, countdown=0)
    auto.step(stage.act("switch"))
    frame, said = _until_countdown(stage, auto)
    assert "in 0 s" in said
    assert auto.due(frame.snapshot.mono_time) is not None


def test_outside_the_bake_window_it_leaves_the_call_to_the_on_call(tmp_path):
    clock = ManualClock()
    rt = build(demo_config("bad-release", 7, 0.5, 1.0).service[0], clock=clock)
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    mon = Monitor(rt, audit)
    ctl = ActionController(rt, audit, mon.observe_action, command="console")
    auto = AutoRollback(armed=True)
    try:
        for _ in range(3):
            clock.advance(1.0)
            mon.poll()
        out = ctl.execute(ctl.plan("switch"))
        assert out.ok and out.frame is not None
        auto.step(out.frame)
        fired = []
        for _ in range(30):
            clock.advance(1.0)
            frame = mon.poll()
            auto.step(frame)
            fired += [a for a in frame.alarms.firing if a.colour == GREEN]
        # green's errors made a critical alarm, after the half-second window: no countdown
        assert any(a.level.label == "critical" for a in fired)
        assert auto.countdown is None
    finally:
        mon.close()
        rt.close()


def test_a_rollback_someone_else_did_first_is_refused_and_audited_not_retried(stage):
    auto = AutoRollback(armed=True, countdown=0)
    auto.step(stage.act("switch"))
    frame, _ = _until_countdown(stage, auto)
    due = auto.due(frame.snapshot.mono_time)
    assert due is not None
    stage.monitor.runtime.router.world.switch(BLUE)  # type: ignore[attr-defined]
    result = run(stage.ctl, due)
    assert not result.ok and result.result == "refused"
    assert result.message.startswith("auto-rollback refused: ")
    refused = [e for e in stage.audit.entries() if e.get("by") == "auto"]
    assert [e["result"] for e in refused] == ["refused"]
    assert auto.due(frame.snapshot.mono_time + 100) is None


def test_a_rollback_that_would_go_elsewhere_is_refused_and_audited_as_auto(stage):
    from console.autorollback import Countdown

    stage.act("switch")  # green live; a rollback would go to blue
    cd = Countdown(BLUE, (BLUE, 0.0), 0.0, "blue error % high")  # a countdown away from blue
    result = run(stage.ctl, cd)
    assert not result.ok and result.result == "refused"
    assert "the routing changed since the alarm" in result.message
    last = list(stage.audit.entries())[-1]
    assert last["result"] == "refused" and last["by"] == "auto"
    assert last["cause"] == "blue error % high"
    assert "the routing changed since the alarm" in last["error"]


def test_an_auto_rollback_killed_mid_action_is_reconciled_still_by_auto(stage):
    rt = stage.monitor.runtime
    stage.act("switch")  # green live
    # kill -9 between the intent and the outcome: the router took the rollback, no outcome written
    intent = stage.audit.append(
        record="intent",
        service=rt.name,
        router=rt.router.kind,
        router_id=rt.router.identity,
        action="rollback",
        target="blue",
        before={"live": "green"},
        by="auto",
        cause="green error % high",
    )
    rt.router.world.switch(BLUE)  # type: ignore[attr-defined]
    Monitor(rt, stage.audit).poll()  # the next start reconciles it
    (rec,) = [e for e in stage.audit.entries() if e.get("record") == "reconciled"]
    assert rec["intent"] == intent["id"]
    assert rec["by"] == "auto" and rec["cause"] == "green error % high"


def test_the_headless_countdown_says_how_to_stop_it_there(stage):
    auto = AutoRollback(armed=True, countdown=5, stop_hint="Ctrl-C abandons it")
    auto.step(stage.act("switch"))
    _, said = _until_countdown(stage, auto)
    assert "(Ctrl-C abandons it)" in said and "cancel key" not in said
