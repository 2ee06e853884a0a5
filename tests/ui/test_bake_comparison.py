"""The bake panel and the `w` view show green against blue's baseline: a bad release's comparison
fails on error %, a healthy one passes; the `w` view gives the table behind the verdict."""

from __future__ import annotations

from console.screens import WhyScreen
from tests.support.pilot import demo_app, poll, press
from widgets import BakeTimer
from widgets.bake_timer import bake_text, comparison_text

SIZE = (100, 30)


def _panel(app) -> tuple[str, str]:
    view = app.query_one(BakeTimer).view
    return bake_text(view, 100), comparison_text(view)


async def test_the_bake_panel_shows_a_bad_release_failing_against_blues_baseline(tmp_path):
    app = demo_app("bad-release", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 45)  # the 45th at the switch's moment: 44 polls of blue before it
        await press(pilot, "s", "y")
        await poll(pilot, 3)
        _, early = _panel(app)
        assert early.startswith("vs blue's baseline (44s): error % no data yet (44+3 of 5+5")
        await poll(pilot, 22)
        row, compared = _panel(app)
        assert row.startswith("✖ BAKE FAILED GREEN")
        assert compared.startswith("vs blue's baseline (44s): error % 0.")
        assert "% FAIL · p99 " in compared
        bake = app.query_one(BakeTimer)
        assert bake.has_class("-compared") and bake.has_class("-compare-fail")
        assert bake.size.height == 2  # the second row is drawn, not cut
        await press(pilot, "w")
        assert isinstance(app.screen, WhyScreen)
        text = app.screen.text
        assert "▌ bake: green against blue's baseline (44s): fail" in text
        assert "blue's figures over the 44s before the switch (from this console)" in text
        err = next(line for line in text.splitlines() if line.strip().startswith("error %"))
        assert err.split()[-3:] == ["p<0.0001", "44/25", "fail"]


async def test_a_healthy_release_passes_the_comparison(tmp_path):
    app = demo_app("healthy", audit_path=tmp_path / "a.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot, 45)
        await press(pilot, "s", "y")
        await poll(pilot, 20)
        row, compared = _panel(app)
        assert row.startswith("BAKING GREEN")
        assert compared.startswith("vs blue's baseline (44s): error % 0.")
        assert compared.endswith("pass") and "marginal" not in compared and "FAIL" not in compared
        assert not app.query_one(BakeTimer).has_class("-compare-fail")
