"""The console's word holds: a write-ahead intent, the right advice when the log cannot be written,
appends that never merge into a torn line, intents reconciled against the router, rollback by service
and router identity, one action at a time per service, and a second read-back after a settle."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backends.base import ActionRefused, Colour
from console import cli
from console.actions import ActionController
from console.audit import AuditLog
from console.monitor import Monitor
from tests.support.disk import _mount, fill, small_filesystem

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def records(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# ------------------------------------------------------------------ a log that cannot be written


def test_a_full_disk_refuses_the_switch_before_the_router_is_touched(runtime, tmp_path, clock):
    with small_filesystem(tmp_path / "fs") as fs:
        audit = AuditLog(fs / "audit.jsonl", clock)
        ctl = ActionController(runtime, audit)
        plan = ctl.plan("switch")
        fill(fs)
        outcome = ctl.execute(plan)
        assert not outcome.ok and outcome.result == "refused"
        assert "the disk is full" in outcome.message and str(fs) in outcome.message
        assert "permissions" not in outcome.message
        assert "nothing was done" in outcome.message
        assert runtime.router.state().live == BLUE  # the router was never touched


def test_a_read_only_filesystem_is_named_as_such(runtime, tmp_path, clock):
    with small_filesystem(tmp_path / "fs") as fs:
        (fs / "audit.jsonl").write_text("")
        assert _mount("-o", "remount,ro", str(fs))
        ctl = ActionController(runtime, AuditLog(fs / "audit.jsonl", clock))
        with pytest.raises(ActionRefused, match=r"mounted read-only.*--audit-log PATH"):
            ctl.plan("switch")
        assert runtime.router.state().live == BLUE


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EROFS, "mounted read-only"),
        (errno.EACCES, "fix its permissions"),
        (errno.EPERM, "fix its permissions"),
    ],
)
def test_each_cause_gets_its_own_advice(tmp_path, code, words):
    error = AuditLog(tmp_path / "audit.jsonl")._error(OSError(code, os.strerror(code)))
    assert words in str(error) and "--audit-log PATH" in str(error)
    if code != errno.EACCES and code != errno.EPERM:
        assert "permissions" not in str(error)


# ------------------------------------------------------------------ torn lines


def test_an_append_after_a_torn_line_is_not_swallowed(audit):
    audit.append(service="shop", action="drain", result="ok")
    with audit.path.open("a") as fh:
        fh.write('{"service": "shop", "action": "sw')  # a crash in the middle of a write
    audit.append(
        service="shop",
        action="switch",
        result="ok",
        before={"live": "blue"},
        after={"live": "green"},
    )
    got = list(audit.entries("shop"))
    assert [e["action"] for e in got] == ["drain", "switch"]
    assert len(audit.notes) == 1 and "line 2" in audit.notes[0] and "torn" in audit.notes[0]
    assert audit.rollback_target("shop")[0] == BLUE


# ------------------------------------------------------------------ write-ahead and reconcile


def test_the_intent_is_on_disk_before_the_router_is_touched(runtime, audit):
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("switch")
    seen = []
    real_switch = runtime.router.switch

    def switch(to):
        seen.append(records(audit.path))  # what the log held when the router was told
        return real_switch(to)

    runtime.router.switch = switch
    outcome = ctl.execute(plan)
    assert outcome.ok
    ((intent,),) = seen
    assert intent["record"] == "intent" and intent["action"] == "switch"
    assert intent["target"] == "green" and intent["before"]["live"] == "blue"
    assert outcome.audit["intent"] == intent["id"]


def _orphan_intent(audit: AuditLog, router_id: str, action="switch", target="green") -> dict:
    """What a process killed between its intent and its outcome leaves behind."""
    return audit.append(
        record="intent",
        service="shop",
        router="simulator",
        router_id=router_id,
        action=action,
        target=target,
        before={"live": "blue"},
    )


def test_the_first_poll_reconciles_an_intent_without_outcome(runtime, audit):
    intent = _orphan_intent(audit, "simulator")
    runtime.router.switch(GREEN)  # the router took the switch; the process died before its outcome
    Monitor(runtime, audit).poll()
    (rec,) = [r for r in records(audit.path) if r["record"] == "reconciled"]
    assert rec["intent"] == intent["id"] and rec["applied"] is True
    assert rec["after"]["live"] == "green" and "it took effect" in rec["error"]
    assert audit.unfinished("shop", "simulator") == []
    assert audit.rollback_target("shop", "simulator")[0] == BLUE
    Monitor(runtime, audit).poll()  # reconciled once, not at every start
    assert sum(r["record"] == "reconciled" for r in records(audit.path)) == 1


def test_rollback_reconciles_an_intent_the_router_never_applied(runtime, audit):
    _orphan_intent(audit, "simulator")  # died before the router was told
    ctl = ActionController(runtime, audit)
    with pytest.raises(ActionRefused, match="nothing to roll back"):
        ctl.plan("rollback")
    (rec,) = [r for r in records(audit.path) if r["record"] == "reconciled"]
    assert rec["applied"] is False and "it did not take effect" in rec["error"]


# ------------------------------------------------------------------ router identity


def test_rollback_looks_its_target_up_by_service_and_router(runtime, audit):
    def switched(router_id: str, before: str, after: str) -> None:
        audit.append(
            service="shop",
            router=router_id.split()[0],
            router_id=router_id,
            action="switch",
            result="ok",
            before={"live": before},
            after={"live": after},
        )

    switched("simulator", "green", "blue")  # this router: green -> blue, so rollback is to green
    switched("haproxy /run/other.sock map /etc/other.map key /", "blue", "green")  # another "shop"
    plan = ActionController(runtime, audit).plan("rollback")
    assert plan.target == GREEN


def test_rollback_tells_two_routers_of_the_same_kind_apart(runtime, audit):
    """Two HAProxies (or here two simulators) serve a "shop": the kind is the same, the identity is
    not. Rollback reads the switches of its own router only, never the other one's."""
    ours = runtime.router.identity
    for router_id, before, after in (
        (ours, "green", "blue"),  # this router: green -> blue, so rollback is to green
        (f"{ours} on another host", "blue", "green"),  # the other "shop", switched later
    ):
        audit.append(
            service="shop",
            router=runtime.router.kind,
            router_id=router_id,
            action="switch",
            result="ok",
            before={"live": before},
            after={"live": after},
        )
    assert ActionController(runtime, audit).plan("rollback").target == GREEN


def test_built_in_routers_name_their_address(tmp_path):
    from backends.base import BackendContext
    from backends.haproxy.router import HAProxyRouter

    router = HAProxyRouter(
        {
            "socket": str(tmp_path / "admin.sock"),
            "map": "/etc/haproxy/a.map",
            "map_key": "/",
            "backends": {"blue": "b", "green": "g"},
        },
        BackendContext(service="shop"),
    )
    assert router.identity == f"haproxy {tmp_path / 'admin.sock'} map /etc/haproxy/a.map key /"


# ------------------------------------------------------------------ one action at a time


def test_a_second_operator_waits_then_is_refused_with_who_holds_it(runtime, audit):
    first = ActionController(runtime, audit, command="bluegreen switch")
    told: list[str] = []
    second = ActionController(runtime, audit, lock_wait=0.3, on_wait=told.append)
    with first.holding(), pytest.raises(ActionRefused) as refused:
        second.plan("drain", GREEN)
    text = str(refused.value)
    assert f"pid {os.getpid()}" in text and "bluegreen switch" in text and "since" in text
    assert "waited" in text
    assert len(told) == 1 and "bluegreen switch" in told[0]
    assert records(audit.path)[-1]["result"] == "refused"
    assert second.plan("drain", GREEN).target == GREEN  # released: the next one goes ahead


def test_the_lock_is_released_on_every_path(runtime, audit):
    ctl = ActionController(runtime, audit, lock_wait=0.1)
    with pytest.raises(ActionRefused):
        ctl.plan("switch", BLUE)  # refused in the preflight
    plan = ctl.plan("switch")
    ctl.cancel(plan)  # a dialog declined
    with contextlib.suppress(RuntimeError), ctl.holding():
        raise RuntimeError("boom")
    other = ActionController(runtime, audit, lock_wait=0.1)
    assert other.execute(other.plan("switch")).ok


HOLD_AND_DIE = textwrap.dedent(
    """
    import os, signal, sys
    from console.lock import ServiceLock
    from pathlib import Path
    with ServiceLock(Path(sys.argv[1]), "shop").hold("bluegreen switch"):
        print("held", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_lock_held_by_a_killed_process_is_free_at_once(runtime, audit):
    ctl = ActionController(runtime, audit, lock_wait=0.5)
    proc = subprocess.run(
        [sys.executable, "-c", HOLD_AND_DIE, str(ctl.lock.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL and "held" in proc.stdout
    assert ctl.execute(ctl.plan("switch")).ok


# ------------------------------------------------------------------ invariants after the action


def test_a_drain_of_the_new_live_colour_during_the_settle_fails_the_switch(runtime, audit):
    def other_operator(_seconds: float) -> None:
        runtime.router.world.drain(GREEN)  # B drains green while A's switch settles

    ctl = ActionController(runtime, audit, settle=0.3, sleep=other_operator)
    outcome = ctl.execute(ctl.plan("switch"))
    assert not outcome.ok and outcome.result == "failed"
    assert "green is live and drained" in outcome.message
    assert "someone else acted at the same moment" in outcome.message
    assert "done (read back)" not in outcome.message
    assert outcome.audit["result"] == "failed" and outcome.audit["after"]["live"] == "green"
    assert outcome.audit["after"]["colours"]["green"]["draining"] is True


def test_an_action_ending_in_a_violation_is_failed_not_done(runtime, audit):
    runtime.router.switch(GREEN)
    ctl = ActionController(runtime, audit)
    plan = ctl.plan("drain", BLUE)
    world = runtime.router.world
    real_drain = runtime.router.drain

    def drain_both(colour):  # a router that drains more than it was asked to
        world.drain(colour.other)
        return real_drain(colour)

    runtime.router.drain = drain_both
    outcome = ctl.execute(plan)
    assert not outcome.ok and outcome.result == "failed"
    assert "green is live and drained" in outcome.message
    assert outcome.audit["result"] == "failed"


# ------------------------------------------------------------------ the demo's own log


def test_the_demo_never_writes_into_the_real_log(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("BLUEGREEN_AUDIT_LOG", str(tmp_path / "real.jsonl"))
    used: list[Path] = []
    monkeypatch.setattr(
        cli,
        "_run_app",
        lambda cfg, service, args, subtitle: used.append(cli._audit_path(args, cfg)),
    )
    cli.main(["demo"])
    cli.main(["demo", "--audit-log", str(tmp_path / "mine.jsonl")])
    assert used[0].name == "demo-audit.jsonl" and used[0].parent.parent == tmp_path / "state"
    assert used[1] == tmp_path / "mine.jsonl"


def test_status_notes_a_torn_line_it_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BLUEGREEN_AUDIT_LOG", raising=False)
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.append(service="shop", action="drain", result="ok")
    with audit.path.open("a") as fh:
        fh.write('{"service": "shop", "act')
    config = tmp_path / "console.toml"
    config.write_text(
        f'audit_log = "{audit.path}"\n[[service]]\nname = "shop"\n'
        '[service.router]\nkind = "simulator"\n[service.metrics]\nkind = "simulator"\n'
    )
    assert cli.main(["status", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "audit log:" in err and "line 2" in err and "torn" in err
