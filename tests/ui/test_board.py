"""The board of many services (issue 13): sort, filter, open, act, return, the palette, a hung
service, small terminals; and its snapshots."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from textual.command import CommandPalette

from console.board_config import load_board
from console.board_screens import BoardScreen, ServiceScreen
from console.model import Level
from console.screens import ConfirmScreen
from tests.support.board import board_app, poll_board, settle_actions, wait_for
from widgets.board_table import BoardCells, render_board

SIZE, SMALL = (120, 36), (80, 24)


def level_of(app, name):
    return next(r.level for r in app.rows() if r.name == name)


async def test_trouble_sorts_first_then_baking_then_the_rest(tmp_path):
    app, clock, _ = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 12)
        levels = [level_of(app, n) for n in app.order]
        assert levels[:2] == [Level.CRITICAL, Level.CRITICAL]  # the bad releases, on top
        assert set(app.order[:2]) == {"cart", "inventory"}
        rows = {r.name: r for r in app.rows()}
        assert rows["checkout"].bake.startswith("baking")  # mid-bake, healthy: after trouble
        assert app.order.index("checkout") < app.order.index("shop")
        assert rows["payments"].draining == "green"
        assert app.selected == app.order[0]  # the worst row is selected


async def test_slash_filters_by_name_and_escape_clears(tmp_path):
    app, clock, _ = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 2)
        await pilot.press("slash", "s", "h")
        await pilot.pause()
        assert sorted(app.order) == ["shipping", "shop"]
        await pilot.press("enter")  # keeps the filter, back to the table
        await pilot.press("down")
        assert app.selected in ("shipping", "shop")
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.order) == 12


async def test_enter_opens_the_dashboard_s_y_switches_and_escape_returns_updated(tmp_path):
    app, clock, audit = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 12)
        top = app.order[0]
        assert level_of(app, top) == Level.CRITICAL
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ServiceScreen) and app.screen.service == top
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
        assert "Switch" in app.screen.plan.title and top in app.screen.plan.title
        await pilot.press("y")
        await settle_actions(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BoardScreen)
        row = next(r for r in app.rows() if r.name == top)
        assert row.live == "blue"  # the board shows the switch read back
        records = [r for r in audit.entries() if r.get("service") == top]
        assert any(r.get("action") == "switch" for r in records)


async def test_switch_from_the_board_row_uses_the_same_confirmation_and_audit(tmp_path):
    app, clock, audit = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 2)
        name = "shop"
        app.selected = name
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
        await pilot.press("escape")  # cancelled: audited, nothing moved
        await settle_actions(pilot)
        assert next(r for r in app.rows() if r.name == name).live == "blue"
        assert app.notice == "shop: switch: cancelled"  # the status line says so
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
        await pilot.press("y")
        await settle_actions(pilot)
        assert next(r for r in app.rows() if r.name == name).live == "green"
        mine = [r for r in audit.entries() if r.get("service") == name]
        assert any("cancel" in str(r.get("result")) for r in mine)
        assert any(r.get("action") == "switch" and r.get("result") == "ok" for r in mine)
        assert "switched shop blue → green: done" in app.notice


async def test_read_only_refuses_actions_on_the_board(tmp_path):
    app, clock, audit = board_app(tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 1)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert "read-only" in app.notice
        assert not audit.path.exists() or not list(audit.entries())  # nothing was even asked


async def test_ctrl_p_lists_services_and_actions(tmp_path):
    app, clock, _ = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 1)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "palette")
        await pilot.press(*"open orders")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen), "dashboard")
        assert app.screen.service == "orders"


SERVICE = """
[[service]]
name = "{name}"
timeout = 30
[service.router]
kind = "simulator"
[service.metrics]
kind = "simulator"
"""


async def test_a_hung_service_never_delays_another_services_frames_or_a_key(tmp_path):
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "a.toml").write_text(SERVICE.format(name="fast") + SERVICE.format(name="hung"))
    (d / "b.toml").write_text("broken = [")
    app, clock, _ = board_app(tmp_path, board=load_board(d), staged=False)
    release = threading.Event()
    hung = app.watched["hung"].slot.runtime
    real = hung.router.state

    def stuck():
        release.wait(60)  # bounded: released when the test ends
        return real()

    hung.router.state = stuck
    try:
        async with app.run_test(size=SIZE) as pilot:
            fast = app.watched["fast"]
            for _ in range(3):
                clock.advance(1.0)
                app.poll_all()
                await wait_for(pilot, lambda: not fast.polling, "the fast service's poll")
            assert fast.polls == 3 and fast.slot.frame is not None
            assert app.watched["hung"].polling and app.watched["hung"].slot.frame is None
            await pilot.press("slash", "f")  # keys are handled meanwhile
            await pilot.pause()
            assert app.order == ["fast"]
            await pilot.press("escape")
            await pilot.pause()
            broken = next(r for r in app.rows() if r.name == "b.toml")
            assert broken.level == Level.CRITICAL and "not valid TOML" in broken.alarm
    finally:
        release.set()
        app.close_backends()


@pytest.mark.parametrize("size", [(40, 10), (20, 5), (12, 3)])
async def test_a_small_terminal_degrades_and_never_crashes(tmp_path, size):
    app, clock, _ = board_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await poll_board(pilot, clock, 3)
        await pilot.press("down", "enter")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BoardScreen)


def test_the_renderer_drops_columns_as_the_terminal_narrows():
    rows = [
        BoardCells("shop", "haproxy", "green", "0/100", "baking 1m left", "CRITICAL x", "critical")
    ]
    wide = render_board(rows, 120, 5)
    assert "ROUTER" in wide[0].plain and "TREND" in wide[0].plain
    narrow = render_board(rows, 60, 5)
    assert "ROUTER" not in narrow[0].plain and "LIVE" in narrow[0].plain
    for width in (120, 60, 30, 8, 1):
        assert all(line.cell_length <= width for line in render_board(rows, width, 3))
    assert render_board(rows, 0, 3) == [] and render_board(rows, 10, 0) == []


def _snap(tmp_path: Path, size):
    app, clock, _ = board_app(tmp_path)
    # One poll thread: frames arrive in the board's order, so the status line (the last notice:
    # cart's or inventory's alarm, fired at the same poll) is the same at every run
    app._pool = ThreadPoolExecutor(max_workers=1)

    async def run_before(pilot):
        await poll_board(pilot, clock, 12)

    return app, run_before


def test_board_snapshot_120x36(snap_compare, tmp_path):
    app, run_before = _snap(tmp_path, SIZE)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_board_snapshot_80x24(snap_compare, tmp_path):
    app, run_before = _snap(tmp_path, SMALL)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)
