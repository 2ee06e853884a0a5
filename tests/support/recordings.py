"""Recordings made the way the console makes them, for the replay's tests, snapshot and screenshot:
the demo's service on the simulator under a manual clock, polled by hand, with a switch and a
rollback made through the real ActionController and recorded by the real Recorder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backends.clock import ManualClock
from console.actions import ActionController
from console.audit import AuditLog
from console.factory import demo_config
from console.model import Frame
from console.monitor import Monitor
from console.recorder import Recorder, service_settings
from console.runtime import build
from tests.support.pilot import START, press, settle


def record_session(
    clock: ManualClock,
    path: Path,
    actions: Mapping[int, str],
    *,
    scenario: str = "bad-release",
    polls: int = 90,
    bake_seconds: float = 60.0,
    command: str = "test",
    with_audit_path: bool = False,
) -> list[Frame]:
    """Poll the demo service ``polls`` times a (manual) second apart, running ``actions`` (poll ->
    action, confirmed) after the polls they are keyed by, and record it all into ``path`` through
    the real Recorder (the session's audit log named when ``with_audit_path``). Returns the frames
    the live console drew, in order (the actions' read-backs included)."""
    rt = build(demo_config(scenario, 7, bake_seconds, 1.0).service[0], clock=clock)
    audit = AuditLog(path.parent / "audit.jsonl", clock)
    mon = Monitor(rt, audit)
    ctl = ActionController(rt, audit, mon.observe_action, command="test")
    audit_log = audit.path if with_audit_path else None
    rec = Recorder(path, command=command, audit_log=audit_log, wall=clock).start()
    rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config))
    frames: list[Frame] = []
    try:
        for i in range(polls):
            clock.advance(1.0)
            frame = mon.poll()
            frames.append(frame)
            rec.frame(frame, rt.router.identity)
            action = actions.get(i)
            if action:
                out = ctl.execute(ctl.plan(action))
                assert out.ok, out.message
                rec.action(rt.name, rt.router.identity, out.audit, out.result, out.message, action)
                assert out.frame is not None
                frames.append(out.frame)
                rec.frame(out.frame, rt.router.identity)
        assert rec.flush()
    finally:
        rec.close()
        mon.close()
        rt.close()
    assert rec.problem is None, rec.problem
    return frames


def record_release(
    path: Path,
    *,
    scenario: str = "bad-release",
    polls: int = 90,
    switch_at: int = 10,
    rollback_at: int | None = 50,
    bake_seconds: float = 30.0,
    clock: ManualClock | None = None,
) -> list[Frame]:
    """The demo as an operator runs it: a switch at poll ``switch_at`` and a rollback at
    ``rollback_at``, recorded as ``bluegreen demo`` records (see ``record_session``)."""
    actions = {switch_at: "switch"}
    if rollback_at is not None:
        actions[rollback_at] = "rollback"
    return record_session(
        clock or ManualClock(START),
        path,
        actions,
        scenario=scenario,
        polls=polls,
        bake_seconds=bake_seconds,
        command="demo",
        with_audit_path=True,
    )


def replay_app(path: Path, *, start: float | None = None, speed: float = 1, play: bool = False):  # type: ignore[no-untyped-def]
    """``bluegreen replay PATH`` as the CLI builds it, paused unless ``play`` (tests step it)."""
    from console.recording import Recording
    from console.replay import ReplayApp

    rec = Recording(path)
    return ReplayApp(rec, rec.service(), start=start, speed=speed, play=play)


async def scene_replay_alarm(pilot: Any) -> None:
    """A replay of the bad release, two events in: the switch, then green's critical alarm and
    the failed bake on the same poll."""
    await settle(pilot)
    await press(pilot, "n", "n")


def close_replay(app: Any) -> None:
    app.runtime.close()
    app.recording.close()


def as_recorded(states: Any) -> tuple[Any, ...]:
    """Alarm states as a recording gives them back: the evidence of an alarm firing or pending is
    recorded, an idle rule's is not (it would change the recorded blob at every poll)."""
    from dataclasses import replace

    return tuple(
        a if a.firing or a.pending else replace(a, evidence="", evidence_source="") for a in states
    )
