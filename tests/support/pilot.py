"""Driving the real app by hand in tests: a manual clock, no automatic polling, and Pilot helpers that
wait for the workers. The app is built by the product's own factory (``console.factory.make_app``);
only the clock and the waiting live here.

    app = demo_app("bad-release", audit_path=tmp_path / "audit.jsonl")
    async with app.run_test(size=(100, 30)) as pilot:
        await poll(pilot, 5)          # five polls, one clock second apart
        await press(pilot, "s", "y")  # switch, confirmed
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from backends.clock import ManualClock
from console.app import AppOptions, BlueGreenApp
from console.config import ServiceConfig
from console.factory import demo_config, make_app
from console.recorder import Recorder

START = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC

# The manual clock each app was built with, kept by the tests (the app only knows it as a Clock).
_CLOCKS: WeakKeyDictionary[BlueGreenApp, ManualClock] = WeakKeyDictionary()


def console_app(
    service: ServiceConfig,
    audit_path: str | os.PathLike[str],
    *,
    clock: ManualClock | None = None,
    read_only: bool = False,
    subtitle: str = "",
    source: str = "test",
    recorder: Recorder | None = None,
) -> BlueGreenApp:
    """``make_app`` with a manual clock (starting at START) and no automatic polling."""
    clock = clock or ManualClock(START)
    app = make_app(
        service,
        audit_path,
        clock=clock,
        options=AppOptions(read_only=read_only, auto_poll=False, subtitle=subtitle),
        source=source,
        recorder=recorder,
    )
    _CLOCKS[app] = clock
    return app


def demo_app(
    scenario: str = "healthy",
    *,
    audit_path: str | os.PathLike[str] | None = None,
    read_only: bool = False,
    clock: ManualClock | None = None,
    bake_seconds: float = 120.0,
) -> BlueGreenApp:
    """The demo's service on the simulator (seed 7), as ``bluegreen demo`` builds it, on a manual
    clock with no automatic polling."""
    if audit_path is None:
        audit_path = Path(tempfile.mkdtemp(prefix="bluegreen-test-")) / "audit.jsonl"
    service = demo_config(scenario, 7, bake_seconds, 1.0).service[0]
    return console_app(
        service, audit_path, clock=clock, read_only=read_only, subtitle=f"demo · {scenario}"
    )


def clock_of(app: BlueGreenApp) -> ManualClock:
    """The manual clock ``app`` was built with by this module."""
    return _CLOCKS[app]


async def settle(pilot: Any) -> None:
    """Wait until every worker is done and every message they posted is handled."""
    app = pilot.app
    for _ in range(50):  # bounded: a worker posts, its handler may start another worker
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            return


async def poll(pilot: Any, n: int = 1, step: float = 1.0) -> None:
    """Advance the app's clock by ``step`` and poll, ``n`` times."""
    app = pilot.app
    clock = clock_of(app)
    for _ in range(n):
        clock.advance(step)
        app.request_poll()
        await settle(pilot)


async def press(pilot: Any, *keys: str) -> None:
    """Press each key and wait for what it started to finish."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
