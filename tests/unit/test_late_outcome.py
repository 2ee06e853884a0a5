"""An action whose outcome is unknown (its verb timed out after it was sent) is looked for at the next
polls: once the router shows it applied, the Monitor records it (``reconciled``, ``late``,
``applied: true``) and says so in the frame; rollback then knows the switch happened. After its
``reconcile_until`` it is left alone."""

from __future__ import annotations

from backends.base import BackendTimeout, Colour
from console.actions import ActionController
from console.monitor import Monitor

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def timed_out_switch(runtime, audit, monkeypatch):
    """A switch to green whose `switch` verb times out without changing anything (yet)."""
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch", GREEN)

    def frozen(_to):
        raise BackendTimeout("simulator router: no answer within 6s")

    with monkeypatch.context() as m:
        m.setattr(runtime.router, "switch", frozen)
        outcome = ctl.execute(plan)
    assert not outcome.ok and "outcome of switch is unknown" in outcome.message
    assert outcome.audit["unknown"] is True and outcome.audit["reconcile_until"] > audit.now()
    return ctl


def reconciled(audit):
    return [e for e in audit.entries("shop") if e.get("record") == "reconciled"]


def test_a_switch_applied_late_is_recorded_at_the_next_poll(runtime, clock, audit, monkeypatch):
    monitor = Monitor(runtime, audit)
    assert monitor.poll().snapshot.live is BLUE
    ctl = timed_out_switch(runtime, audit, monkeypatch)
    clock.advance(1.0)
    assert monitor.poll().snapshot.external_change is None  # not applied yet: nothing recorded
    assert reconciled(audit) == []

    runtime.router.switch(GREEN)  # the router resumes and applies the command
    clock.advance(1.0)
    frame = monitor.poll()
    note = frame.snapshot.external_change
    assert note is not None and "the switch to green sent at" in note, note
    assert note.endswith("took effect late; recorded") and "outside" not in note
    (record,) = reconciled(audit)
    assert record["applied"] is True and record["late"] is True
    assert record["after"]["live"] == "green" and record["before"]["live"] == "blue"

    clock.advance(1.0)
    assert monitor.poll().snapshot.external_change is None  # recorded once
    assert len(reconciled(audit)) == 1
    plan = ctl.plan("rollback")  # rollback knows the switch happened
    assert plan.target is BLUE


def test_an_unknown_outcome_is_left_alone_after_its_window(runtime, clock, audit, monkeypatch):
    monitor = Monitor(runtime, audit)
    monitor.poll()
    timed_out_switch(runtime, audit, monkeypatch)
    clock.advance(60.0)  # far past a few poll intervals
    runtime.router.switch(GREEN)  # someone's switch, much later: not the timed-out one
    frame = monitor.poll()
    assert "outside the console" in (frame.snapshot.external_change or "")
    assert reconciled(audit) == []
