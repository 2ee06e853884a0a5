"""Recordings made the way the console makes them, for the replay's tests, snapshot and screenshot:
the demo's service on the simulator under a manual clock, polled by hand, with a switch and a
rollback made through the real ActionController and recorded by the real Recorder."""

from __future__ import annotations

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
    """Poll the demo service ``polls`` times a (manual) second apart, switch at poll ``switch_at``
    and roll back at ``rollback_at``; record it all into ``path``. Returns the frames the live
    console drew, in order (the actions' read-backs included)."""
    clock = clock or ManualClock(START)
    rt = build(demo_config(scenario, 7, bake_seconds, 1.0).service[0], clock=clock)
    audit = AuditLog(path.parent / "audit.jsonl", clock)
    mon = Monitor(rt, audit)
    ctl = ActionController(rt, audit, mon.observe_action, command="test")
    rec = Recorder(path, command="demo", audit_log=audit.path, wall=clock).start()
    rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config))
    frames: list[Frame] = []
    try:
        for i in range(polls):
            clock.advance(1.0)
            frame = mon.poll()
            frames.append(frame)
            rec.frame(frame, rt.router.identity)
            action = "switch" if i == switch_at else "rollback" if i == rollback_at else None
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
