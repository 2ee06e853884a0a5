"""Snapshot tests of the main screens: the same hermetic scenes as the README's screenshots (the
simulator, a manual clock, a fixed seed). After an intended UI change: `pytest --snapshot-update`,
then look at the SVGs in tests/ui/__snapshots__."""

from __future__ import annotations

import pytest

from console.screenshots import SCENES, make_app, settle


@pytest.mark.parametrize("name", list(SCENES))
def test_screen(name, snap_compare, tmp_path):
    scenario, scene = SCENES[name]
    app = make_app(scenario, audit_path=tmp_path / "audit.jsonl")

    async def run_before(pilot):
        await settle(pilot)
        await scene(pilot)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_alarm_screen_at_80x24(snap_compare, tmp_path):
    scenario, scene = SCENES["alarm-firing"]
    app = make_app(scenario, audit_path=tmp_path / "audit.jsonl")

    async def run_before(pilot):
        await settle(pilot)
        await scene(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
