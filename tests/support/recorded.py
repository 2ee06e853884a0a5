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
from console.chart import ChartScreen
from console.model import Frame
from tests.support.recordings import record_session

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
    return record_session(clock, path, actions, scenario=scenario, polls=polls)


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
