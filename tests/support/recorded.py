"""A recorded simulator session under a manual clock, and a bare app that opens the detail chart on
it: the chart's snapshot test and the README's chart screenshot draw the same picture.

    path = record_story(ManualClock(START), tmp / "rec.sqlite")   # bad-release, switch, rollback
    app = chart_app(path, now)                                     # the chart screen alone
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textual.app import App

from backends.clock import ManualClock
from console.actions import ActionController
from console.audit import AuditLog
from console.chart import ChartScreen
from console.factory import demo_config
from console.model import Frame
from console.monitor import Monitor
from console.recorder import Recorder, service_settings
from console.runtime import build

STORY = {560: "switch", 690: "rollback"}  # poll -> action: the bad release, then back to blue
STORY_POLLS = 900  # 15 minutes at 1 s polls


def record_story(
    clock: ManualClock,
    path: Path,
    scenario: str = "bad-release",
    polls: int = STORY_POLLS,
    actions: Mapping[int, str] = STORY,
) -> list[Frame]:
    """Poll the demo service ``polls`` times a second apart, running ``actions`` (confirmed) after
    the polls they are keyed by, and record it all into ``path``. Returns the frames drawn."""
    rt = build(demo_config(scenario, 7, 60.0, 1.0).service[0], clock=clock)
    audit = AuditLog(path.parent / "audit.jsonl", clock)
    mon = Monitor(rt, audit)
    ctl = ActionController(rt, audit, mon.observe_action, command="test")
    rec = Recorder(path, command="test", wall=clock).start()
    rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config))
    frames: list[Frame] = []
    try:
        for i in range(polls):
            clock.advance(1.0)
            frame = mon.poll()
            frames.append(frame)
            rec.frame(frame, rt.router.identity)
            if i in actions:
                out = ctl.execute(ctl.plan(actions[i]))
                assert out.ok, out.message
                rec.action(
                    rt.name, rt.router.identity, out.audit, out.result, out.message, actions[i]
                )
                if out.frame is not None:
                    frames.append(out.frame)
                    rec.frame(out.frame, rt.router.identity)
        assert rec.flush()
    finally:
        rec.close()
        mon.close()
        rt.close()
    assert rec.problem is None, rec.problem
    return frames


class ChartHost(App[None]):
    """Nothing but the detail chart of ``service`` in ``path`` at ``now``."""

    def __init__(self, path: Path, now: float, service: str = "shop", **kw: Any) -> None:
        super().__init__()
        self._screen_args = (service, path, now, kw)

    def on_mount(self) -> None:
        service, path, now, kw = self._screen_args
        self.push_screen(ChartScreen(service, lambda: now, recording=path, **kw))


def chart_app(path: Path, now: float, **kw: Any) -> ChartHost:
    return ChartHost(path, now, **kw)


async def wait_for_chart(pilot: Any, reads: int = 1) -> ChartScreen:
    """Wait until the chart screen has shown ``reads`` views (bounded), then for a redraw."""
    app = pilot.app
    for _ in range(400):  # a hang guard of about 20 s; a read put off by a timer is waited for
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        if isinstance(screen, ChartScreen) and screen.reads >= reads and not screen._reading:
            break
        await asyncio.sleep(0.05)
    await pilot.pause()
    assert isinstance(app.screen, ChartScreen), app.screen
    return app.screen
