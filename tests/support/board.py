"""Driving the board by hand in tests: the demo's services (seeded) on a manual clock, no automatic
polling; ``poll_board`` advances the clock and waits (bounded) for every service's poll."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backends.base import Colour
from backends.clock import ManualClock
from console.audit import AuditLog
from console.board import BoardApp, BoardOptions, make_board
from console.board_config import BoardConfig
from console.board_demo import demo_board_config, stage
from console.board_poll import Slot, build_slots
from tests.support.pilot import START


def board_app(
    tmp_path: Path,
    n: int = 12,
    *,
    board: BoardConfig | None = None,
    read_only: bool = False,
    staged: bool = True,
) -> tuple[BoardApp, ManualClock, AuditLog]:
    clock = ManualClock(START)
    board = board or demo_board_config(n, 7, 60.0, 1.0)
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    slots = build_slots(board, lambda e: audit, clock=clock)
    if staged:
        stage(slots)
    app = make_board(
        slots,
        {s.name: audit for s in slots},
        clock=clock,
        options=BoardOptions(auto_poll=False, read_only=read_only, subtitle="test"),
    )
    return app, clock, audit


async def wait_for(pilot: Any, done: Any, what: str, rounds: int = 500) -> None:
    """Pause until ``done()``; bounded (a hang guard, not a timing assertion)."""
    for _ in range(rounds):
        if done():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"not done: {what}")


async def poll_board(pilot: Any, clock: ManualClock, n: int = 1, step: float = 1.0) -> None:
    app: BoardApp = pilot.app
    for _ in range(n):
        clock.advance(step)
        app.poll_all()
        await wait_for(pilot, lambda: not any(w.polling for w in app.watched.values()), "polls")
        await pilot.pause()
    app.draw()
    await pilot.pause()


async def settle_actions(pilot: Any) -> None:
    app: BoardApp = pilot.app
    await wait_for(pilot, lambda: not any(w.busy for w in app.watched.values()), "actions")
    await pilot.pause()


def live(slots: list[Slot]) -> dict[str, Colour | None]:
    """Each polled slot's live colour (asserting it has a frame with a router state)."""
    out = {}
    for s in slots:
        assert s.frame is not None and s.late is None, (s.name, s.late)
        router = s.frame.snapshot.router
        assert router is not None, (s.name, s.frame.snapshot.router_error)
        out[s.name] = router.live
    return out


def expected(green: set[int], n: int) -> dict[str, Colour | None]:
    """Services s0..s{n-1}: green where listed, else blue."""
    return {f"s{i}": Colour.GREEN if i in green else Colour.BLUE for i in range(n)}
