"""Deterministic scenes of the real app on the simulator (a manual clock, a fixed seed, polls driven
by hand): the snapshot tests (tests/ui/test_snapshots.py) and the README's screenshots
(``make screenshots``: tests/support/screenshots.py) draw these same scenes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.support.pilot import poll, press

SIZE = (100, 30)
SMALL = (80, 24)


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
    await press(pilot, "d", "y", "y")  # inside blue's warm-rollback window: asked twice
    await poll(pilot, 4)


async def scene_countdown(pilot: Any) -> None:
    """bad-release with the auto-rollback armed: the critical alarm starts the countdown."""
    await poll(pilot, 45)
    await press(pilot, "a", "s", "y")
    await poll(pilot, 12)


Scene = Callable[[Any], Awaitable[None]]

# name -> (the simulator's scenario, the scene)
SCENES: dict[str, tuple[str, Scene]] = {
    "healthy": ("healthy", scene_healthy),
    "alarm-firing": ("bad-release", scene_alarm),
    "confirm-switch": ("healthy", scene_confirm_switch),
    "draining": ("healthy", scene_draining),
    "auto-rollback-countdown": ("bad-release", scene_countdown),
}
