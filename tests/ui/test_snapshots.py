"""Snapshot tests of the main screens: the same hermetic scenes as the README's screenshots (the
simulator, a manual clock, a fixed seed). After an intended UI change: `pytest --snapshot-update`,
then look at the SVGs in tests/ui/__snapshots__."""

from __future__ import annotations

import pytest

from tests.support.pilot import demo_app, settle
from tests.support.scenes import SCENES, SIZE, SMALL


@pytest.mark.parametrize("name", list(SCENES))
def test_screen(name, snap_compare, tmp_path):
    scenario, scene = SCENES[name]
    app = demo_app(scenario, audit_path=tmp_path / "audit.jsonl")

    async def run_before(pilot):
        await settle(pilot)
        await scene(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_alarm_screen_at_80x24(snap_compare, tmp_path):
    scenario, scene = SCENES["alarm-firing"]
    app = demo_app(scenario, audit_path=tmp_path / "audit.jsonl")

    async def run_before(pilot):
        await settle(pilot)
        await scene(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)
