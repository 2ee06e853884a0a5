"""The board's keys beyond switch / drain / rollback (issue 13: "and what else a service's dashboard
offers"): [ and ] shift weights, w says why, and the selection follows the worst row until picked."""

from __future__ import annotations

from backends.base import Colour
from console.board_screens import BoardScreen, ServiceScreen
from console.screens import ConfirmScreen, WhyScreen
from tests.support.board import board_app, poll_board, settle_actions, wait_for

SIZE = (120, 36)


def row(app, name):
    return next(r for r in app.rows() if r.name == name)


async def test_right_bracket_moves_ten_points_to_green_with_confirmation_and_audit(tmp_path):
    app, clock, audit = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 2)
        assert row(app, "shop").weights == "100/0"
        app.selected = "shop"
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
        assert app.screen.plan.action == "weights"
        await pilot.press("y")
        await settle_actions(pilot)
        await poll_board(pilot, clock, 1)
        assert row(app, "shop").weights == "90/10"
        assert row(app, "auth").weights == "100/0"  # only the selected service moved
        records = [r for r in audit.entries() if r.get("service") == "shop"]
        assert any(r.get("action") == "weights" and r.get("result") == "ok" for r in records)
        # and from the service's own dashboard: [ gives the 10 points back to blue
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ServiceScreen) and app.screen.service == "shop"
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
        await pilot.press("y")
        await settle_actions(pilot)
        await poll_board(pilot, clock, 1)
        assert row(app, "shop").weights == "100/0"


async def test_w_says_why_the_selected_service_alarms_and_escape_returns(tmp_path):
    app, clock, _ = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 12)
        top = app.order[0]  # a bad release, critical
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WhyScreen), "why")
        text = app.screen.text
        assert "error" in text.lower() and "simulator" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BoardScreen) and app.selected == top


async def test_the_worst_row_stays_selected_until_a_row_is_picked(tmp_path):
    app, clock, _ = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 1)  # before the bad releases' alarms fire
        before = list(app.order)
        await poll_board(pilot, clock, 11)  # now they do, and sort on top
        assert app.order[:2] != before[:2]
        assert app.selected == app.order[0]  # the selection followed the worst row
        await pilot.press("down")
        picked = app.selected
        assert picked == app.order[1]
        order = list(app.order)
        app.watched["shop"].slot.runtime.router.world.switch(Colour.GREEN)  # baking: re-sorts
        await poll_board(pilot, clock, 3)
        assert app.order.index("shop") < order.index("shop")
        assert app.selected == picked  # a picked row stays picked as the board re-sorts


async def test_a_poll_that_cannot_start_is_said_on_its_row_and_tried_again(tmp_path):
    app, clock, _ = board_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll_board(pilot, clock, 1)
        real_submit, refused = app._pool.submit, []

        def submit(fn, name, monitor):
            if name == "shop" and not refused:
                refused.append(name)
                raise RuntimeError("can't start new thread")
            return real_submit(fn, name, monitor)

        app._pool.submit = submit  # type: ignore[method-assign]
        await poll_board(pilot, clock, 1)
        shop = app.watched["shop"]
        assert refused and not shop.polling
        assert "could not start" in (shop.slot.late or "")
        polls = shop.polls
        await poll_board(pilot, clock, 1)
        assert shop.polls == polls + 1 and shop.slot.late is None  # the next poll ran
