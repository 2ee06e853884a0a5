"""Every action attempt leaves one intact JSON line, on disk before "done"; rollback reads the log."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from backends.base import ActionRefused, Colour
from console.actions import ActionController
from console.audit import AuditLog
from tests.conftest import make_runtime

FIELDS = {
    "id",
    "record",
    "intent",
    "router_id",
    "time",
    "epoch",
    "user",
    "host",
    "service",
    "router",
    "action",
    "target",
    "before",
    "after",
    "result",
    "error",
}


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_a_switch_writes_one_line_with_every_field(runtime, audit):
    ctl = ActionController(runtime, audit)
    outcome = ctl.execute(ctl.plan("switch"))
    assert outcome.ok
    intent, entry = lines(audit.path)  # the intent, on disk before the router was touched
    assert set(entry) == FIELDS
    assert intent["record"] == "intent" and intent["result"] is None
    assert entry["record"] == "outcome" and entry["intent"] == intent["id"]
    assert entry["action"] == "switch" and entry["result"] == "ok" and entry["service"] == "shop"
    assert entry["before"]["live"] == "blue" and entry["after"]["live"] == "green"
    assert entry["time"].startswith("2026-01-01T00:00:00")


def test_refused_and_cancelled_attempts_are_audited_too(runtime, audit):
    ctl = ActionController(runtime, audit)
    with pytest.raises(ActionRefused, match="blue is live: draining it would stop all traffic"):
        ctl.plan("drain", Colour.BLUE)
    ctl.cancel(ctl.plan("switch"))
    assert [(e["action"], e["result"]) for e in lines(audit.path)] == [
        ("drain", "refused"),
        ("switch", "cancelled"),
    ]
    assert "switch first" in lines(audit.path)[0]["error"]


def test_an_unwritable_log_refuses_the_action_before_anything_changes(runtime, tmp_path, clock):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ctl = ActionController(runtime, AuditLog(blocker / "audit.jsonl", clock))
    with pytest.raises(ActionRefused, match=r"cannot write the audit log .*--audit-log PATH"):
        ctl.plan("switch")
    assert runtime.router.state().live == Colour.BLUE


def test_rollback_works_after_a_restart(tmp_path, clock):
    audit_path = tmp_path / "audit.jsonl"
    first = make_runtime(clock)
    ActionController(first, AuditLog(audit_path, clock)).execute(
        ActionController(first, AuditLog(audit_path, clock)).plan("switch")
    )
    # The console restarts: a new process knows only the router (still green) and the log.
    second = make_runtime(clock)
    second.router.switch(Colour.GREEN)  # the real router kept the switch
    ctl = ActionController(second, AuditLog(audit_path, clock))
    plan = ctl.plan("rollback")
    assert plan.target == Colour.BLUE
    assert ctl.execute(plan).ok
    assert second.router.state().live == Colour.BLUE
    assert [(e["action"], e["record"]) for e in lines(audit_path)] == [
        ("switch", "intent"),
        ("switch", "outcome"),
        ("rollback", "intent"),
        ("rollback", "outcome"),
    ]


def test_torn_or_foreign_lines_are_skipped(audit):
    audit.append(
        service="shop",
        action="switch",
        result="ok",
        before={"live": "blue"},
        after={"live": "green"},
    )
    with audit.path.open("a") as fh:
        fh.write('{"service": "shop", "action": "sw')  # a torn last line
        fh.write("\nnot json at all\n")
    assert audit.rollback_target("shop")[0] == Colour.BLUE


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from console.actions import ActionController
    from console.audit import AuditLog
    from console.factory import demo_config
    from console.runtime import build

    rt = build(demo_config("healthy", 7, 60, 1).service[0])
    ctl = ActionController(rt, AuditLog(sys.argv[1]))
    outcome = ctl.execute(ctl.plan("switch"))
    # This is the moment the screen would say "done": die at once, no cleanup, no flush at exit.
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_the_line_survives_a_kill_right_after_the_action(tmp_path):
    path = tmp_path / "audit.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -9, proc.stderr
    _intent, entry = lines(path)
    assert (
        entry["action"] == "switch"
        and entry["result"] == "ok"
        and entry["after"]["live"] == "green"
    )


APPEND_SCRIPT = textwrap.dedent(
    """
    import sys
    from console.audit import AuditLog
    log = AuditLog(sys.argv[1])
    for i in range(150):
        log.append(service="shop", action="switch", result="ok", error="x" * 2000, target=sys.argv[2])
    """
)


def test_two_writers_never_interleave_within_a_line(tmp_path):
    path = tmp_path / "audit.jsonl"
    procs = [
        subprocess.Popen([sys.executable, "-c", APPEND_SCRIPT, str(path), name])
        for name in ("a", "b")
    ]
    for p in procs:
        assert p.wait(timeout=60) == 0
    entries = lines(path)
    assert len(entries) == 300
    assert sorted({e["target"] for e in entries}) == ["a", "b"]
