"""The console holds the service's lock only while a worker runs the preflight or the execution:
never while the confirmation dialog waits for a person. Another operator's action meanwhile is
refused at execution, and the console words it as the audit does ("refused", not "failed")."""

from __future__ import annotations

from backends.base import Colour
from console.actions import ActionController
from console.screens import ConfirmScreen
from tests.support.pilot import demo_app, poll, press
from widgets import ActionLog

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
