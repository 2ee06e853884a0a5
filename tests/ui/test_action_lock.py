"""The console holds the service's lock only while a worker runs the preflight or the execution:
never while the confirmation dialog waits for a person. Another operator's action meanwhile is
refused at execution, and the console words it as the audit does ("refused", not "failed")."""

from __future__ import annotations

from backends.base import Colour
from console.actions import ActionController
from console.screens import ConfirmScreen
from tests.support.cli import audit_records
from tests.support.pilot import demo_app, poll, press
from widgets import ActionLog, StatusHeader

SIZE = (100, 30)


async def test_the_dialog_holds_no_lock_and_a_change_meanwhile_is_refused_not_failed(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "s")
        assert isinstance(app.screen, ConfirmScreen)
        # Another operator (another console on this machine) acts while the dialog is open.
        other = ActionController(app.runtime, app.audit)
        assert other.execute(other.plan("drain", Colour.GREEN)).ok
        await press(pilot, "y")
        text = "\n".join(app.query_one(ActionLog).lines_text)
        assert "switch: refused: the routing changed since the preflight (green drained)" in text
        assert "switch: failed" not in text
        assert app.runtime.router.state().live == Colour.BLUE


async def test_an_outside_change_that_refuses_a_confirmed_switch_is_logged_as_outside(tmp_path):
    """Someone else (here: a drain through the router itself, not through any console) changes the
    routing between the preflight and the `y`: the switch is refused, and the console says the routing
    changed outside the console, as a poll would; it never takes the change for its own."""
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "s")
        assert isinstance(app.screen, ConfirmScreen)
        app.runtime.router.drain(Colour.GREEN)  # by hand, on the router
        await press(pilot, "y")
        lines = app.query_one(ActionLog).lines_text
        text = "\n".join(lines)
        assert "switch: refused: the routing changed since the preflight (green drained)" in text
        assert "routing changed outside the console: green drained" in text
        assert "routing changed outside the console" in app.query_one(StatusHeader).view.notice
        outcome = [r for r in audit_records(app.audit.path) if r["record"] == "outcome"][-1]
        assert outcome["action"] == "switch" and outcome["result"] == "refused"
        await poll(pilot, 1)  # the next poll does not report it a second time
        assert sum("outside the console" in x for x in app.query_one(ActionLog).lines_text) == 1


async def test_a_router_gone_between_the_dialog_and_the_y_is_refused_in_the_log_and_the_audit(
    tmp_path,
):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "s")
        assert isinstance(app.screen, ConfirmScreen)
        app.runtime.router.world.set_fault("router", "down")  # no verb will be sent
        await press(pilot, "y")
        text = "\n".join(app.query_one(ActionLog).lines_text)
        assert "switch: refused: simulated router is down" in text, text
        assert "nothing was done" in text and "switch: failed" not in text
        outcome = [r for r in audit_records(app.audit.path) if r["record"] == "outcome"][-1]
        assert outcome["result"] == "refused" and outcome["intent"] is None
