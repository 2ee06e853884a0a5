"""The warm-rollback window: after a switch the old colour stays ready to take the traffic back for
``keep_warm`` (default: the bake window); draining it inside that window is allowed only with a
second, explicit confirmation that says what a rollback would lose."""

from __future__ import annotations

import pytest

from backends.base import ActionRefused, Colour
from console.actions import ActionController
from tests.conftest import make_runtime

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def _switched(clock, audit, bake: float = 60.0):
    rt = make_runtime(clock, bake=bake)
    ctl = ActionController(rt, audit, command="test")
    out = ctl.execute(ctl.plan("switch", GREEN))
    assert out.ok, out.message
    return rt, ctl


def test_draining_the_old_colour_inside_the_window_asks_twice_and_says_why(clock, audit):
    rt, ctl = _switched(clock, audit)
    try:
        clock.advance(20)
        plan = ctl.plan("drain", BLUE)
        assert plan.caution.startswith("blue is inside its warm-rollback window (40s left of ")
        assert "keep_warm 1m00s" in plan.caution and "must ready blue first" in plan.caution
        # after the window: an ordinary drain
        clock.advance(41)
        assert ctl.plan("drain", BLUE).caution == ""
    finally:
        rt.close()


def test_keep_warm_overrides_the_bake_window_and_zero_turns_it_off(clock, audit):
    rt, ctl = _switched(clock, audit)
    try:
        rt.config = rt.config.model_copy(update={"keep_warm": 600.0})
        clock.advance(120)
        assert "(8m00s left of keep_warm 10m00s)" in ctl.plan("drain", BLUE).caution
        rt.config = rt.config.model_copy(update={"keep_warm": 0.0})
        assert ctl.plan("drain", BLUE).caution == ""
    finally:
        rt.close()


def test_the_colour_switched_to_is_no_warm_target(clock, audit):
    rt, ctl = _switched(clock, audit)
    try:
        with pytest.raises(ActionRefused, match="green is live"):
            ctl.plan("drain", GREEN)
    finally:
        rt.close()


def test_a_confirmed_cold_drain_is_audited_as_such(clock, audit):
    rt, ctl = _switched(clock, audit)
    try:
        plan = ctl.plan("drain", BLUE)
        assert plan.caution
        out = ctl.execute(plan, tags={"inside_warm_window": True})
        assert out.ok, out.message
        last = [e for e in audit.entries() if e["action"] == "drain"][-1]
        assert last["inside_warm_window"] is True and last["result"] == "ok"
    finally:
        rt.close()


def test_a_rollback_opens_no_warm_window(clock, audit):
    rt, ctl = _switched(clock, audit)
    try:
        out = ctl.execute(ctl.plan("rollback"))
        assert out.ok, out.message
        clock.advance(5)
        # back on blue: green is no warm rollback target, draining it is ordinary
        assert ctl.plan("drain", GREEN).caution == ""
    finally:
        rt.close()
