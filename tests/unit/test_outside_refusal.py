"""A confirmed action that meets someone else's change: the change is reported as outside the console
(exactly as a poll reports it), never absorbed as our own; and the console, the CLI and the audit log
use one word for what happened: "refused" whenever no command reached the router."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from backends.base import BackendTimeout, Colour, Unreachable
from console import cli
from console.actions import ActionController
from console.audit import AuditLog
from console.model import BakeVerdict
from console.monitor import Monitor
from tests.conftest import make_runtime

BLUE, GREEN = Colour.BLUE, Colour.GREEN
OUTSIDE = "routing changed outside the console: "


def outcomes(path: Path) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [r for r in rows if r.get("record") == "outcome"]


# ------------------------------------------------------------------ someone else, before execution


def test_an_outside_switch_that_refuses_a_confirmed_drain_is_reported_as_outside(
    runtime, audit, clock
):
    monitor = Monitor(runtime)
    monitor.poll()
    ctl = ActionController(runtime, audit, monitor.observe_action)
    plan = ctl.plan("drain")  # drain green, the idle colour
    runtime.router.switch(GREEN)  # someone else switches while our dialog is open
    outcome = ctl.execute(plan)
    assert not outcome.ok and outcome.result == "refused"
    assert outcome.audit is not None and outcome.audit["result"] == "refused"
    assert outcome.frame is not None
    # Reported exactly as a poll reports it, and not a second time by the next poll.
    assert outcome.frame.snapshot.external_change.startswith(OUTSIDE + "live blue → green")
    clock.advance(1)
    assert monitor.poll().snapshot.external_change is None
    # Someone else switching back to where we left nothing is theirs too: reported.
    runtime.router.switch(BLUE)
    clock.advance(1)
    assert monitor.poll().snapshot.external_change.startswith(OUTSIDE + "live green → blue")


def test_the_bake_treats_an_outside_switch_seen_by_a_refusal_as_a_poll_does(runtime, audit, clock):
    monitor = Monitor(runtime)  # the console that acts
    polled = Monitor(runtime)  # a second console on the same router that only polls
    monitor.poll(), polled.poll()
    ctl = ActionController(runtime, audit, monitor.observe_action)
    plan = ctl.plan("drain")
    runtime.router.switch(GREEN)  # the outside switch
    clock.advance(1)
    frame = ctl.execute(plan).frame
    seen = polled.poll()
    assert frame is not None
    assert seen.snapshot.external_change.startswith(OUTSIDE + "live blue → green")
    assert frame.snapshot.external_change == seen.snapshot.external_change
    assert (frame.bake.verdict, frame.bake.colour, frame.bake.started) == (
        seen.bake.verdict,
        seen.bake.colour,
        seen.bake.started,
    )
    assert audit.last_switch("shop") is None  # and nothing recorded it as a switch of ours


def test_an_outside_change_already_seen_by_a_poll_is_not_reported_twice(runtime, audit, clock):
    monitor = Monitor(runtime)
    monitor.poll()
    ctl = ActionController(runtime, audit, monitor.observe_action)
    plan = ctl.plan("switch")
    runtime.router.drain(GREEN)
    clock.advance(1)
    assert monitor.poll().snapshot.external_change == OUTSIDE + "green drained"
    outcome = ctl.execute(plan)
    assert outcome.result == "refused" and "green drained" in outcome.message
    assert outcome.frame is None or outcome.frame.snapshot.external_change is None


# ------------------------------------------------------------------ someone else, during the settle


def test_a_change_during_the_settle_is_reported_as_outside_and_our_switch_as_ours(
    runtime, audit, clock
):
    def other_operator(_seconds: float) -> None:
        runtime.router.world.drain(GREEN)  # B drains green while our switch settles

    monitor = Monitor(runtime)
    monitor.poll()
    ctl = ActionController(runtime, audit, monitor.observe_action, settle=0.3, sleep=other_operator)
    outcome = ctl.execute(ctl.plan("switch"))
    assert outcome.result == "failed" and outcome.audit["result"] == "failed"
    frame = outcome.frame
    assert frame is not None
    # Our switch is ours (no outside report of it); the drain is someone else's.
    assert frame.snapshot.external_change == OUTSIDE + "green drained"
    assert frame.bake.verdict == BakeVerdict.FAILED and frame.bake.colour == GREEN
    clock.advance(1)
    assert monitor.poll().snapshot.external_change is None
    assert audit.last_switch("shop") is not None  # the switch happened: rollback knows it
    # Someone readies green again, back to what our switch had left: theirs, and reported.
    runtime.router.world.ready(GREEN)
    clock.advance(1)
    assert monitor.poll().snapshot.external_change == OUTSIDE + "green readied"


def test_a_violation_our_own_action_read_back_is_not_called_an_outside_change(runtime, audit):
    runtime.router.switch(GREEN)
    monitor = Monitor(runtime)
    monitor.poll()
    ctl = ActionController(runtime, audit, monitor.observe_action)
    plan = ctl.plan("drain", BLUE)
    world = runtime.router.world
    real_drain = runtime.router.drain

    def drain_both(colour):  # a router that drains more than it was asked to: ours, all of it
        world.drain(colour.other)
        return real_drain(colour)

    runtime.router.drain = drain_both
    outcome = ctl.execute(plan)
    assert outcome.result == "failed" and outcome.frame is not None
    assert outcome.frame.snapshot.external_change is None
    assert "green is live and drained" in outcome.message


# ------------------------------------------------------------------ one word: refused


def test_a_reread_that_fails_before_any_command_is_refused_in_outcome_and_audit(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    runtime.router.world.set_fault("router", "down")  # the router stops answering after the dialog
    outcome = ctl.execute(plan)
    assert not outcome.ok and outcome.result == "refused"
    assert outcome.audit["result"] == "refused" and outcome.audit["intent"] is None
    assert "nothing was done" in outcome.message
    runtime.router.world.set_fault("router", None)
    assert runtime.router.state().live == BLUE
    assert not [r for r in outcomes(audit.path) if r["result"] == "failed"]


def test_a_reread_that_times_out_before_any_command_is_refused(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    real_state = runtime.router.state

    def hung():
        raise BackendTimeout("simulator: no answer within 2s")

    runtime.router.state = hung
    outcome = ctl.execute(plan)
    runtime.router.state = real_state
    assert outcome.result == "refused" and outcome.audit["result"] == "refused"
    assert "no answer within 2s" in outcome.message


def test_a_router_lock_that_cannot_be_taken_at_execution_is_refused_not_raised(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")

    @contextlib.contextmanager
    def unreachable_lease(holder):
        raise Unreachable("the Kubernetes API at https://127.0.0.1:6443 refused the connection")
        yield

    runtime.router.hold = unreachable_lease
    outcome = ctl.execute(plan)  # never raises for a backend problem
    assert outcome.result == "refused" and outcome.audit["result"] == "refused"
    assert "refused the connection" in outcome.message
    assert runtime.router.state().live == BLUE


def _config(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "audit.jsonl"
    config = tmp_path / "console.toml"
    config.write_text(
        f'audit_log = "{log}"\n[[service]]\nname = "shop"\n'
        '[service.router]\nkind = "simulator"\n[service.metrics]\nkind = "simulator"\n'
    )
    return config, log


def test_the_cli_says_cancelled_as_the_audit_does_when_no_terminal_can_confirm(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("BLUEGREEN_AUDIT_LOG", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    config, log = _config(tmp_path)
    assert cli.main(["switch", "--config", str(config)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "bluegreen switch: cancelled: no terminal to confirm on: pass --yes" in err
    assert [r["result"] for r in outcomes(log)] == ["cancelled"]


def test_the_cli_says_refused_as_the_audit_does_when_the_reread_fails(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("BLUEGREEN_AUDIT_LOG", raising=False)
    config, log = _config(tmp_path)
    real_plan = ActionController.plan

    def plan_then_router_down(self, *args, **kwargs):
        plan = real_plan(self, *args, **kwargs)
        self.runtime.router.world.set_fault("router", "down")  # gone between preflight and verb
        return plan

    monkeypatch.setattr(ActionController, "plan", plan_then_router_down)
    assert cli.main(["switch", "--config", str(config), "--yes"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "bluegreen switch: refused: " in err and "failed" not in err
    assert [r["result"] for r in outcomes(log)] == ["refused"]


def test_a_plain_success_is_ours_and_reported_as_nothing_else(runtime, audit):
    """The control: a switch nobody interferes with is ours, done, and reported as nothing else."""
    monitor = Monitor(runtime)
    monitor.poll()
    outcome = ActionController(runtime, audit, monitor.observe_action).execute(
        ActionController(runtime, audit).plan("switch")
    )
    assert outcome.ok and outcome.frame is not None
    assert outcome.frame.snapshot.external_change is None
    assert [r["result"] for r in outcomes(audit.path)] == ["ok"]


def test_a_refusal_whose_record_cannot_be_written_is_still_a_refusal(runtime, audit, monkeypatch):
    """The disk fills between the preflight and the `y`: the switch is refused for the change it met;
    it never says the action "ran" (nothing did)."""
    from console.audit import AuditError

    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    runtime.router.drain(GREEN)
    real_append = audit.append

    def full(**fields):
        if fields.get("result") == "refused":
            raise AuditError("cannot write the audit log: the disk is full")
        return real_append(**fields)

    monkeypatch.setattr(audit, "append", full)
    outcome = ctl.execute(plan)  # does not raise AuditError ("the action ran, but ...")
    assert outcome.result == "refused" and outcome.audit is None
    assert "the routing changed since the preflight" in outcome.message


def test_a_poll_during_our_own_action_does_not_call_it_an_outside_change(tmp_path, clock):
    """Found by replaying a demo: a poll that lands between the switch and its read-back (in the
    settle) saw the new routing before the action had said it was ours, and logged our own switch
    as "routing changed outside the console"."""
    rt = make_runtime(clock)
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    mon = Monitor(rt, audit)
    polled: list = []
    ctl = ActionController(
        rt,
        audit,
        mon.observe_action,
        settle=0.3,
        sleep=lambda _s: polled.append(mon.poll()),  # the console's poll, in the settle
        acting=mon.acting,
    )
    try:
        clock.advance(1)
        mon.poll()
        out = ctl.execute(ctl.plan("switch"))
        assert out.ok
        clock.advance(1)
        after = mon.poll()
    finally:
        mon.close()
        rt.close()
    assert polled and all(f.snapshot.external_change is None for f in polled)
    assert after.snapshot.external_change is None
    assert after.snapshot.router.live == Colour.GREEN
