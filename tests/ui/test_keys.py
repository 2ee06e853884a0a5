"""Pilot tests: every key and both answers of every dialog, as a person at the keyboard sees them."""

from __future__ import annotations

import json

from backends.base import Colour
from console.config import from_mapping
from console.model import BakeVerdict, Level
from console.screens import ConfirmScreen, HelpScreen
from tests.support.pilot import clock_of, console_app, demo_app, poll, press, settle
from widgets import ActionLog, AlarmBanner, ColourPanel

SIZE = (100, 30)


def log_text(app) -> str:
    return "\n".join(app.query_one(ActionLog).lines_text)


def audit_lines(app) -> list[dict]:
    """The attempts' outcome records (each switch also writes an intent ahead of it)."""
    if not app.audit.path.exists():
        return []
    records = [json.loads(x) for x in app.audit.path.read_text().splitlines()]
    return [r for r in records if r.get("record", "outcome") == "outcome"]


def live(app):
    return app.runtime.router.state().live


async def test_s_then_y_switches_to_green_starts_the_bake_and_writes_the_audit_line(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 5)
        await press(pilot, "s")
        assert isinstance(app.screen, ConfirmScreen)
        assert "live: BLUE → GREEN" in app.screen.plan.lines
        await press(pilot, "y")
        assert not isinstance(app.screen, ConfirmScreen)
        assert live(app) == Colour.GREEN
        assert "switched shop blue → green: done (read back)" in log_text(app)
        assert [(e["action"], e["result"]) for e in audit_lines(app)] == [("switch", "ok")]
        assert (
            app.frame.bake.verdict == BakeVerdict.BAKING and app.frame.bake.colour == Colour.GREEN
        )
        assert app.query_one("#panel-green", ColourPanel).view.badge == "live"
        blue_before = app.frame.snapshot.colour_metrics(Colour.BLUE).sessions
        await poll(pilot, 10)
        assert app.frame.snapshot.colour_metrics(Colour.BLUE).sessions < blue_before / 4


async def test_enter_also_confirms_and_escape_or_n_cancel(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "s", "escape")
        assert live(app) == Colour.BLUE and "switch: cancelled" in log_text(app)
        await press(pilot, "s", "n")
        assert live(app) == Colour.BLUE
        await press(pilot, "s", "enter")
        assert live(app) == Colour.GREEN
        assert [e["result"] for e in audit_lines(app)] == ["cancelled", "cancelled", "ok"]


async def test_d_drains_the_idle_colour_and_d_again_offers_to_ready_it(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "d")
        assert app.screen.plan.action == "drain" and app.screen.plan.target == Colour.GREEN
        await press(pilot, "y")
        await poll(pilot, 1)
        assert app.runtime.router.state().colour(Colour.GREEN).draining
        assert app.query_one("#panel-green", ColourPanel).view.badge == "draining"
        await press(pilot, "d")
        assert app.screen.plan.action == "ready"
        await press(pilot, "escape")
        assert app.runtime.router.state().colour(Colour.GREEN).draining
        await press(pilot, "d", "y")
        assert not app.runtime.router.state().colour(Colour.GREEN).draining


async def test_an_actions_frame_reaches_the_screen_without_waiting_for_a_poll(tmp_path):
    """The outcome carries the frame its read-back produced; the app applies it like a polled one."""
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        polls = app.polls
        await press(pilot, "d", "y")
        assert app.polls == polls  # no poll ran: what changed came with the action
        assert app.frame.snapshot.router.colour(Colour.GREEN).draining
        assert app.query_one("#panel-green", ColourPanel).view.badge == "draining"
        await press(pilot, "d")
        assert app.screen.plan.action == "ready"  # d reads the frame on screen


async def test_switch_to_a_draining_colour_is_refused_with_the_reason(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "d", "y", "s")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "switch: refused: green is draining: ready it first" in log_text(app)
        assert audit_lines(app)[-1]["result"] == "refused"


async def test_r_rolls_back_and_refuses_when_there_is_nothing_to_roll_back(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "r")
        assert "rollback: refused: nothing to roll back" in log_text(app)
        await press(pilot, "s", "y")
        await poll(pilot, 2)
        await press(pilot, "r")
        assert (
            isinstance(app.screen, ConfirmScreen)
            and "live: GREEN → BLUE" in app.screen.plan.lines[0]
        )
        await press(pilot, "escape")
        assert live(app) == Colour.GREEN
        await press(pilot, "r", "y")
        assert live(app) == Colour.BLUE
        assert "rolled shop back green → blue: done (read back)" in log_text(app)


async def test_bad_release_fires_the_alarm_rings_once_and_rollback_clears_it(tmp_path):
    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    bells = []
    app.bell = lambda: bells.append(1)
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 3)
        await press(pilot, "s", "y")
        await poll(pilot, 20)
        assert app.frame.alarms.level(Colour.GREEN, "error_pct") == Level.CRITICAL
        items = app.query_one(AlarmBanner).items
        assert items and items[0].level == "critical" and "green error %" in items[0].text
        green = app.query_one("#panel-green", ColourPanel).view
        assert green.level == "critical"
        assert next(m for m in green.metrics if m.key == "error_pct").level == "critical"
        assert "CRITICAL green error %" in log_text(app)
        assert app.frame.bake.verdict == BakeVerdict.FAILED
        assert len(bells) == 1  # once, not once per poll
        await poll(pilot, 3)
        assert len(bells) == 1
        await press(pilot, "r", "y")
        await poll(pilot, 8)
        assert live(app) == Colour.BLUE
        assert app.frame.alarms.level(Colour.GREEN) == Level.OK
        # green lost its traffic: its alarm ended, but nothing recovered, and the log says so
        assert "green error % alarm ended: green has no traffic now (not recovered)" in log_text(
            app
        )
        assert "cleared: green error %" not in log_text(app)


async def test_alarms_are_evaluated_while_a_dialog_is_open(tmp_path):
    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "s", "y")
        await press(pilot, "?")
        assert isinstance(app.screen, HelpScreen)
        await poll(pilot, 20)
        assert app.frame.alarms.level(Colour.GREEN) == Level.CRITICAL
        assert app.query_one(AlarmBanner).items  # the dashboard under the dialog is up to date
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_read_only_hides_and_refuses_every_action(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl", read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "s", "d", "r")
        assert not isinstance(app.screen, ConfirmScreen)
        assert live(app) == Colour.BLUE and audit_lines(app) == []
        assert "read-only: actions are disabled" in log_text(app)
        shown = {
            b.binding.action for b in app.active_bindings.values() if b.binding.show and b.enabled
        }
        assert "switch" not in shown and "help" in shown


async def test_brackets_shift_traffic_in_steps_of_ten(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "right_square_bracket")
        assert "green: 0% → 10%" in app.screen.plan.lines
        await press(pilot, "y")
        await poll(pilot, 1)
        assert app.runtime.router.state().colour(Colour.GREEN).weight == 10
        await press(pilot, "left_square_bracket", "y")
        assert app.runtime.router.state().colour(Colour.GREEN).weight == 0


async def test_q_quits():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "q")
        assert not app.is_running


async def test_keys_answer_while_the_router_hangs_and_the_panel_goes_stale(tmp_path):
    # The demo's service with a 5 s call deadline instead of 1 s, so that the poll surely still
    # hangs while the key is pressed, however loaded the machine: what is checked is that keys
    # answer during a hung poll, not how fast (that is measured in bench/).
    mapping = {"name": "shop", "poll_interval": 1.0, "timeout": 5.0, "bake_seconds": 120}
    mapping |= {"router": {"kind": "simulator", "seed": 7}, "metrics": {"kind": "simulator"}}
    service = from_mapping({"service": [mapping]}, "test").service[0]
    app = console_app(service, tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        world = app.runtime.router.world
        world.set_fault("router", "hang")
        world.set_fault("metrics", "hang")
        clock_of(app).advance(5)
        app.request_poll()  # this poll blocks in the backends until their 5 s deadline
        await pilot.pause()
        poller = [w for w in app.workers if w.group == "poll"]
        assert poller and poller[0].is_running
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)  # answered while the poll still hangs
        assert poller[0].is_running
        await pilot.press("escape")
        await settle(pilot)
        panel = app.query_one("#panel-blue", ColourPanel).view
        assert panel.stale and "no answer within" in panel.error
        world.set_fault("router", None)
        world.set_fault("metrics", None)
        await poll(pilot, 2)  # the hung calls return; the next poll after that is fresh
        await poll(pilot, 1)
        assert not app.query_one("#panel-blue", ColourPanel).view.stale


async def test_a_router_changed_outside_the_console_is_reported(tmp_path):
    app = demo_app(audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        app.runtime.router.switch(Colour.GREEN)  # another operator
        await poll(pilot, 1)
        assert "routing changed outside the console: live blue → green" in log_text(app)
        assert app.query_one("#header").view.notice
        assert app.frame.bake.verdict == BakeVerdict.BAKING  # a switch is a switch, whoever made it


async def test_w_explains_why_an_alarm_fired_with_the_rule_the_query_and_the_samples(tmp_path):
    from console.screens import WhyScreen

    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 2)
        await press(pilot, "s", "y")
        await poll(pilot, 20)
        await press(pilot, "w")
        assert isinstance(app.screen, WhyScreen)
        text = app.screen.text
        first = text.splitlines()[0]
        assert first.startswith(
            "▌ error_pct: error %: warning > 2, critical > 5; decided by evidence: fires when the "
            "requests counted make it 99.9 % sure"
        )
        assert "CRITICAL green error %" in text and "last 8 polls:" in text
        # the evidence behind it, its source, and the last poll's counts beside the panel's figure
        assert "% sure the rate is above 5 % (simulator counters, last " in text
        assert "this poll: " in text and "(simulator counters, 1.0 s); panel: " in text
        assert "query:  simulated: per-colour error %" in text
        await press(pilot, "escape")
        assert not isinstance(app.screen, WhyScreen)
