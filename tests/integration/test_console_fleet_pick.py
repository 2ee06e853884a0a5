"""The console on a real HAProxy fleet whose instances disagree: ``s`` asks which colour every
instance should route to (``b`` / ``g``), then confirms and runs the ordinary switch to it (the same
preflight, read-back and audit as ``bluegreen switch --to``)."""

from __future__ import annotations

import pytest

from backends.base import Colour
from console.app import AppOptions
from console.config import load
from console.factory import make_app
from console.runtime import build
from console.screens import ConfirmScreen
from tests.support.cli import audit_entries, log_text
from tests.support.pilot import press, settle
from tests.support.router_worlds import haproxy_fleet_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
SIZE = (100, 30)


@pytest.mark.parametrize(("key", "picked"), [("g", GREEN), ("b", BLUE)])
async def test_s_on_a_split_fleet_asks_which_colour_then_switches_every_instance_to_it(
    haproxy_fleet, tmp_path, key, picked
):
    lab2 = haproxy_fleet.lab("lb2")
    lab2.command(f"set map {lab2.map} / green-backend")  # someone on lb2's socket: the fleet splits
    config = haproxy_fleet_config(tmp_path, haproxy_fleet)
    runtime = build(load(config).pick(None), source=str(config))
    audit = tmp_path / "audit.jsonl"
    app = make_app(runtime, audit, options=AppOptions(auto_poll=False))
    async with app.run_test(size=SIZE) as pilot:
        app.request_poll()
        await settle(pilot)
        assert app.frame is not None and app.frame.snapshot.live is None

        await press(pilot, "s")
        assert isinstance(app.screen, ConfirmScreen)
        pick = app.screen.plan
        assert pick.choices == (BLUE, GREEN)
        assert "instances disagree" in pick.title
        assert pick.lines[0] == (
            "now: 2 of 3 instances route to blue (lb1, lb3); lb2 routes to green"
        )
        await press(pilot, "y")  # no colour is the default: y does nothing here
        assert isinstance(app.screen, ConfirmScreen) and app.screen.plan is pick
        assert haproxy_fleet.map_values()["lb2"] == "green-backend"

        await press(pilot, key)  # the picked colour, then the ordinary confirmation
        assert isinstance(app.screen, ConfirmScreen)
        plan = app.screen.plan
        assert (plan.action, plan.target, plan.choices) == ("switch", picked, ())
        assert plan.title == f"Switch shop to {str(picked).upper()}?"
        assert plan.lines[0] == (
            "live: 2 of 3 instances route to blue (lb1, lb3); lb2 routes to green → "
            f"every instance {str(picked).upper()}"
        )
        await press(pilot, "y")
        assert not isinstance(app.screen, ConfirmScreen)

        want = {name: f"{picked}-backend" for name in ("lb1", "lb2", "lb3")}
        assert haproxy_fleet.map_values() == want
        assert haproxy_fleet.file_values() == want
        assert "done (read back)" in log_text(app)
        app.request_poll()
        await settle(pilot)
        assert app.frame.snapshot.live is picked
        assert not [a for a in app.frame.alarms.firing if a.rule == "invariant:instances_split"]
    runtime.close()
    done = [e for e in audit_entries(audit) if e["result"] == "ok"]
    assert [(e["action"], e["target"]) for e in done] == [("switch", str(picked))]


async def test_escape_at_the_pick_changes_nothing_and_is_audited_as_cancelled(
    haproxy_fleet, tmp_path
):
    lab3 = haproxy_fleet.lab("lb3")
    lab3.command(f"set map {lab3.map} / green-backend")
    before = haproxy_fleet.map_values()
    config = haproxy_fleet_config(tmp_path, haproxy_fleet)
    runtime = build(load(config).pick(None), source=str(config))
    audit = tmp_path / "audit.jsonl"
    app = make_app(runtime, audit, options=AppOptions(auto_poll=False))
    async with app.run_test(size=SIZE) as pilot:
        app.request_poll()
        await settle(pilot)
        await press(pilot, "s")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.plan.choices
        await press(pilot, "escape")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "switch: cancelled" in log_text(app)
    runtime.close()
    assert haproxy_fleet.map_values() == before
    assert [(e["action"], e["result"]) for e in audit_entries(audit)] == [("switch", "cancelled")]
