"""The Textual console (Pilot, the real app) on every registered router kind: the keys switch, the
console's own switch is not reported as someone else's, and a restarted console rolls back.

Scenarios of the router contract (see test_router_contract.py) that need the app's own wiring of
its action worker to its poller.
"""

from __future__ import annotations

import pytest

from backends.base import Colour
from console.app import AppOptions
from console.factory import make_app
from console.screens import ConfirmScreen
from tests.support.cli import audit_entries, log_text
from tests.support.pilot import press, settle

pytestmark = [pytest.mark.timeout(90)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
SIZE = (100, 30)


async def poll_app(pilot) -> None:
    pilot.app.request_poll()
    await settle(pilot)


async def test_keys_switch_our_own_switch_is_not_external_and_r_rolls_back_after_a_restart(world):
    runtime = world.build()
    app = make_app(runtime, world.audit_path, options=AppOptions(auto_poll=False))
    async with app.run_test(size=SIZE) as pilot:
        await poll_app(pilot)
        assert app.frame is not None and app.frame.snapshot.live is BLUE
        assert app.frame.snapshot.router_error is None

        await press(pilot, "s")
        assert isinstance(app.screen, ConfirmScreen)
        assert "live: BLUE → GREEN" in app.screen.plan.lines
        await press(pilot, "y")
        assert not isinstance(app.screen, ConfirmScreen)

        assert world.live() is GREEN
        world.assert_kept()
        served = world.served()
        assert served is None or served == {"green"}
        assert "switched shop blue → green: done (read back)" in log_text(app)
        assert app.frame.snapshot.live is GREEN
        assert app.frame.bake.colour is GREEN  # the bake window starts at the switch

        await poll_app(pilot)  # our own switch is not reported as someone else's
        assert app.frame.snapshot.live is GREEN
        assert app.frame.snapshot.external_change is None
        assert "outside the console" not in log_text(app)

        world.switch_outside(BLUE)  # ...but someone else's change after it is
        await poll_app(pilot)
        assert app.frame.snapshot.live is BLUE
        assert app.frame.snapshot.external_change is not None
        assert "routing changed outside the console: live green → blue" in log_text(app)
        world.switch_outside(GREEN)  # back to where our switch left it: still someone else's
        await poll_app(pilot)
        assert app.frame.snapshot.external_change is not None
        assert app.frame.snapshot.external_change.startswith(
            "routing changed outside the console: live blue → green"
        )
    entry = next(e for e in audit_entries(world.audit_path) if e["result"] == "ok")
    assert (entry["action"], entry["target"], entry["result"]) == ("switch", "green", "ok")

    # A restart: a new runtime and app; rollback's target comes from the audit log.
    runtime = world.restart(runtime)
    app = make_app(runtime, world.audit_path, options=AppOptions(auto_poll=False))
    async with app.run_test(size=SIZE) as pilot:
        await poll_app(pilot)
        assert app.frame.snapshot.live is GREEN
        assert app.frame.last_switch == entry["epoch"]  # read from the audit log
        await press(pilot, "r")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.plan.lines[0].startswith("live: GREEN → BLUE")
        await press(pilot, "y")
        assert world.live() is BLUE
        world.assert_kept()
        served = world.served()
        assert served is None or served == {"blue"}
        assert "rolled shop back green → blue: done (read back)" in log_text(app)
    assert [(e["action"], e["result"]) for e in audit_entries(world.audit_path)] == [
        ("switch", "ok"),
        ("rollback", "ok"),
    ]
