"""Deterministic scenes of the real app on the simulator: the README's screenshots and the snapshot
tests are drawn from these same functions (a manual clock, a fixed seed, polls driven by hand).

    bluegreen screenshots --out screenshots      # or: make screenshots
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from backends.base import Colour
from backends.clock import ManualClock
from console.app import AppOptions, BlueGreenApp
from console.audit import AuditLog
from console.cli import demo_config
from console.runtime import build

SIZE = (100, 30)
START = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC


def make_app(scenario: str = "healthy", *, audit_path: str | Path | None = None, read_only: bool = False,
             clock: ManualClock | None = None, bake_seconds: float = 120.0) -> BlueGreenApp:
    """The app on the simulator with a manual clock and no automatic polling."""
    clock = clock or ManualClock(START)
    cfg = demo_config(scenario, 7, bake_seconds, 1.0)
    runtime = build(cfg.service[0], clock=clock)
    if audit_path is None:
        audit_path = Path(tempfile.mkdtemp(prefix="bluegreen-shot-")) / "audit.jsonl"
    app = BlueGreenApp(
        runtime, AuditLog(audit_path, clock), AppOptions(read_only=read_only, auto_poll=False, subtitle=f"demo · {scenario}")
    )
    app.manual_clock = clock  # type: ignore[attr-defined]
    return app


async def settle(pilot: Any) -> None:
    """Wait until every worker is done and every message they posted is handled."""
    app = pilot.app
    for _ in range(50):  # bounded: a worker posts, its handler may start another worker
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            return


async def poll(pilot: Any, n: int = 1, step: float = 1.0) -> None:
    """Advance the clock by ``step`` and poll, ``n`` times."""
    app = pilot.app
    for _ in range(n):
        app.manual_clock.advance(step)
        app.request_poll()
        await settle(pilot)


async def press(pilot: Any, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


# -------------------------------------------------------------------------------------------- scenes


async def scene_healthy(pilot: Any) -> None:
    """Green took traffic 20 s ago: blue's sessions fall, the bake window counts down."""
    await poll(pilot, 45)
    await press(pilot, "s", "y")
    await poll(pilot, 20)


async def scene_alarm(pilot: Any) -> None:
    """bad-release: green's errors climb after the switch; the alarm fires and the bake fails."""
    await poll(pilot, 45)
    await press(pilot, "s", "y")
    await poll(pilot, 22)


async def scene_confirm_switch(pilot: Any) -> None:
    await poll(pilot, 45)
    await press(pilot, "s")


async def scene_draining(pilot: Any) -> None:
    """After a switch to green, blue is drained: no new requests, sessions on their way to 0."""
    await poll(pilot, 40)
    await press(pilot, "s", "y")
    await poll(pilot, 3)
    await press(pilot, "d", "y")
    await poll(pilot, 4)


SCENES: dict[str, tuple[str, Callable[[Any], Awaitable[None]]]] = {
    "healthy": ("healthy", scene_healthy),
    "alarm-firing": ("bad-release", scene_alarm),
    "confirm-switch": ("healthy", scene_confirm_switch),
    "draining": ("healthy", scene_draining),
}


async def _shoot(name: str, out: Path, size: tuple[int, int]) -> Path:
    scenario, scene = SCENES[name]
    app = make_app(scenario)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await scene(pilot)
        await pilot.pause()
        svg = app.export_screenshot(title=f"bluegreen · {name}")
    path = out / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def main(out: str | os.PathLike[str] = "screenshots") -> int:
    os.environ["TZ"] = "UTC"  # the header clock: the same picture on every machine
    time.tzset()
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    for name in SCENES:
        print(asyncio.run(_shoot(name, target, SIZE)))
    print(asyncio.run(_shoot_small(target)))
    return 0


async def _shoot_small(out: Path) -> Path:
    """The same alarm scene at 80x24: the layout must still work there."""
    scenario, scene = SCENES["alarm-firing"]
    app = make_app(scenario)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await scene(pilot)
        await pilot.pause()
        svg = app.export_screenshot(title="bluegreen · 80x24")
    path = out / "alarm-firing-80x24.svg"
    path.write_text(svg, encoding="utf-8")
    return path


__all__ = ["SCENES", "SIZE", "make_app", "poll", "press", "settle", "Colour"]
