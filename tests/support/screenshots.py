"""Regenerate the README's screenshots from the scenes the snapshot tests draw (tests/support/scenes.py):
``python -m tests.support.screenshots --out screenshots``, or ``make screenshots``."""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from backends.clock import ManualClock
from tests.support.pilot import START, demo_app, settle
from tests.support.recorded import chart_app, record_story, wait_for_chart
from tests.support.scenes import SCENES, SIZE, SMALL


async def shoot(name: str, path: Path, size: tuple[int, int], title: str) -> Path:
    """Draw scene ``name`` at ``size`` and write it to ``path`` as SVG."""
    scenario, scene = SCENES[name]
    with tempfile.TemporaryDirectory(prefix="bluegreen-shot-") as tmp:
        app = demo_app(scenario, audit_path=Path(tmp) / "audit.jsonl")
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scene(pilot)
            await pilot.pause()
            svg = app.export_screenshot(title=title)
        app.runtime.close()
    path.write_text(svg, encoding="utf-8")
    return path


async def shoot_chart(path: Path, size: tuple[int, int], title: str) -> Path:
    """The detail chart after a recorded bad release, its switch and its rollback (the chart's
    snapshot test draws the same)."""
    with tempfile.TemporaryDirectory(prefix="bluegreen-shot-") as tmp:
        clock = ManualClock(START)
        rec = Path(tmp) / "rec.sqlite"
        record_story(clock, rec)
        app = chart_app(rec, clock())
        async with app.run_test(size=size) as pilot:
            await wait_for_chart(pilot)
            svg = app.export_screenshot(title=title)
    path.write_text(svg, encoding="utf-8")
    return path


async def shoot_replay(path: Path, size: tuple[int, int], title: str) -> Path:
    """A recorded bad release (switch, alarm, failed bake, rollback), replayed to its alarm."""
    from tests.support.recordings import (
        close_replay,
        record_release,
        replay_app,
        scene_replay_alarm,
    )

    with tempfile.TemporaryDirectory(prefix="bluegreen-shot-") as tmp:
        record_release(Path(tmp) / "demo.sqlite")
        app = replay_app(Path(tmp) / "demo.sqlite")
        try:
            async with app.run_test(size=size) as pilot:
                await scene_replay_alarm(pilot)
                await pilot.pause()
                svg = app.export_screenshot(title=title)
        finally:
            close_replay(app)
    path.write_text(svg, encoding="utf-8")
    return path


async def shoot_board(path: Path, size: tuple[int, int], title: str) -> Path:
    """The board of the demo's 12 services after 12 polls (its snapshot test draws the same)."""
    from tests.support.board import board_app, poll_board

    with tempfile.TemporaryDirectory(prefix="bluegreen-shot-") as tmp:
        app, clock, _ = board_app(Path(tmp))
        try:
            async with app.run_test(size=size) as pilot:
                await poll_board(pilot, clock, 12)
                svg = app.export_screenshot(title=title)
        finally:
            app.close_backends()
    path.write_text(svg, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the README's SVG screenshots.")
    parser.add_argument("--out", default="screenshots", help="directory (default: screenshots)")
    args = parser.parse_args(argv)
    os.environ["TZ"] = "UTC"  # the header clock: the same picture on every machine
    os.environ["LOGNAME"] = "ops"  # the operator a recording names (the replay's action log)
    time.tzset()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in SCENES:
        print(asyncio.run(shoot(name, out / f"{name}.svg", SIZE, f"bluegreen · {name}")))
    # The alarm scene again at 80x24: the layout must still work there.
    print(
        asyncio.run(
            shoot("alarm-firing", out / "alarm-firing-80x24.svg", SMALL, "bluegreen · 80x24")
        )
    )
    print(asyncio.run(shoot_chart(out / "chart.svg", SIZE, "bluegreen · chart (c)")))
    print(asyncio.run(shoot_replay(out / "replay.svg", SIZE, "bluegreen replay · bad-release")))
    print(asyncio.run(shoot_board(out / "board.svg", (120, 36), "bluegreen demo --services 12")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
