"""Armed auto-rollback and the warm-rollback window in the console (Pilot, the demo's bad release
on a manual clock): arm, alarm, countdown, cancel, fire; a drain inside the window asks twice."""

from __future__ import annotations

from backends.base import Colour
from console.screens import ConfirmScreen
from tests.support.pilot import clock_of, demo_app, poll, press, settle
from widgets import ActionLog, ColourPanel, StatusHeader

SIZE = (110, 32)


def log_text(app) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(app.query_one(ActionLog).lines_text)


def header(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.query_one(StatusHeader).view)


async def _switched_to_bad_green(pilot) -> None:  # type: ignore[no-untyped-def]
    await poll(pilot, 3)
    await press(pilot, "s", "y")
    assert pilot.app.frame.snapshot.live == Colour.GREEN


async def _until_countdown(pilot, polls: int = 30) -> None:  # type: ignore[no-untyped-def]
    for _ in range(polls):
        await poll(pilot)
        if pilot.app.auto.countdown is not None:
            return
    raise AssertionError("no countdown")


async def test_armed_it_counts_down_and_rolls_back_with_no_key_pressed(tmp_path):
    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "a")
        assert "auto-rollback armed" in header(app)
        await _switched_to_bad_green(pilot)
        await _until_countdown(pilot)
        assert "AUTO-ROLLBACK of green in 5s (x cancels)" in header(app)
        assert "AUTO-ROLLBACK of green in 5 s" in log_text(app)
        await poll(pilot, 5)  # five seconds on the app's clock: no key pressed
        await settle(pilot)
        assert app.frame.snapshot.live == Colour.BLUE
        assert "AUTO-ROLLBACK: " in log_text(app)
        audit = [e for e in app.audit.entries() if e.get("by") == "auto"]
        assert [e["result"] for e in audit if e["record"] != "intent"] == ["ok"]
        assert audit[-1]["cause"].startswith("CRITICAL green error %")


async def test_x_cancels_the_countdown_and_green_stays_live(tmp_path):
    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "a")
        await _switched_to_bad_green(pilot)
        await _until_countdown(pilot)
        await press(pilot, "x")
        assert "auto-rollback of green cancelled: cancelled by the operator (x)" in log_text(app)
        await poll(pilot, 10)
        assert app.frame.snapshot.live == Colour.GREEN
        assert not [e for e in app.audit.entries() if e.get("by") == "auto"]


async def test_unarmed_and_read_only_it_never_acts(tmp_path):
    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await _switched_to_bad_green(pilot)
        await poll(pilot, 20)
        assert app.auto.countdown is None and app.frame.snapshot.live == Colour.GREEN
    ro = demo_app("bad-release", audit_path=tmp_path / "b.jsonl", read_only=True)
    async with ro.run_test(size=SIZE) as pilot:
        await press(pilot, "a")
        assert not ro.auto.armed
        assert "read-only: auto-rollback cannot be armed" in log_text(ro)


async def test_draining_the_old_colour_inside_its_warm_window_asks_twice(tmp_path):
    app = demo_app("healthy", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 3)
        await press(pilot, "s", "y")
        clock_of(app).advance(10)
        await press(pilot, "d")  # drains the idle colour: blue, the warm rollback target
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        assert isinstance(app.screen, ConfirmScreen)  # asked again, saying why
        assert "INSIDE its warm-rollback window" in app.screen.plan.title
        assert "blue is inside its warm-rollback window" in app.screen.plan.lines[0]
        await press(pilot, "y")
        assert app.frame.snapshot.router.colour(Colour.BLUE).draining
        drain = [e for e in app.audit.entries() if e["action"] == "drain"][-1]
        assert drain["inside_warm_window"] is True and drain["result"] == "ok"


def status_row(app, colour: str) -> str:  # type: ignore[no-untyped-def]
    panel = app.query_one(f"#panel-{colour}", ColourPanel)
    return panel._status.render_content(60).plain


async def test_the_old_colours_panel_counts_its_warm_window_down(tmp_path):
    app = demo_app("healthy", audit_path=tmp_path / "a.jsonl")  # keep_warm: the 2 min bake window
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 3)
        assert "warm" not in status_row(app, "blue")
        await press(pilot, "s", "y")
        await poll(pilot)  # one second on the app's clock
        assert "servers 3/3 up  warm 01:59" in status_row(app, "blue")
        assert "warm" not in status_row(app, "green")
        assert app.frame.to_json()["warm"]["colour"] == "blue"
        await poll(pilot, 20)
        assert "warm 01:39" in status_row(app, "blue")
        await press(pilot, "d", "y", "y")  # asked twice: inside the window
        await poll(pilot)
        assert "servers 3/3 draining  warm 01:38" in status_row(app, "blue")
        await poll(pilot, 100)
        assert "warm" not in status_row(app, "blue")  # the window ran out
        assert app.frame.to_json()["warm"] is None


async def test_a_rollback_opens_no_warm_window(tmp_path):
    app = demo_app("healthy", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 3)
        await press(pilot, "s", "y")
        await poll(pilot, 2)
        await press(pilot, "r", "y")
        await poll(pilot, 2)
        assert app.frame.snapshot.live == Colour.BLUE
        assert "warm" not in status_row(app, "green") + status_row(app, "blue")
        assert app.frame.warm is None
