"""The Textual console (Pilot, the real app) on the Gateway API router: `]` / `[` shift a canary
share of the HTTPRoute, and a route the gateway did not accept is shown in the header and refuses
the switch with the gateway's reason (nothing written)."""

from __future__ import annotations

import pytest

from backends.base import Colour
from console.app import AppOptions
from console.factory import make_app
from console.fmt import router_notice
from console.screens import ConfirmScreen
from tests.support.cli import PROXY_VARS, log_text
from tests.support.mesh_worlds import mesh_world
from tests.support.pilot import press, settle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
SIZE = (100, 30)


@pytest.fixture
def world(tmp_path, monkeypatch):
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    with mesh_world("gateway-api", tmp_path) as built:
        yield built


async def poll_app(pilot) -> None:
    pilot.app.request_poll()
    await settle(pilot)


async def test_brackets_shift_a_canary_share_of_the_httproute(world):
    app = make_app(world.build(), world.audit_path, options=AppOptions(auto_poll=False))
    async with app.run_test(size=SIZE) as pilot:
        await poll_app(pilot)
        await press(pilot, "right_square_bracket")
        assert isinstance(app.screen, ConfirmScreen)
        assert "green: 0% → 10%" in app.screen.plan.lines
        await press(pilot, "y")
        await poll_app(pilot)
        assert world.weights() == {BLUE: 90, GREEN: 10}
        assert "weights green 10%, blue 90%: done (read back)" in log_text(app)
        world.assert_kept()  # the gateway accepted the new generation
        await press(pilot, "left_square_bracket", "y")
        await poll_app(pilot)
        assert world.weights() == {BLUE: 100, GREEN: 0}


async def test_a_route_the_gateway_did_not_accept_is_shown_and_refuses_the_switch(world):
    world.kube.route_rejects["shop"] = ("Accepted", "NotAllowedByListeners", "hostname taken")
    world.kube.settle()
    app = make_app(world.build(), world.audit_path, options=AppOptions(auto_poll=False))
    async with app.run_test(size=SIZE) as pilot:
        await poll_app(pilot)
        notice = router_notice(app.frame)
        assert "gateway default/shop-gw reports Accepted=False" in notice
        assert "NotAllowedByListeners: hostname taken" in notice
        writes = world.writes()
        await press(pilot, "s")
        if isinstance(app.screen, ConfirmScreen):  # the preflight passed the console's checks
            await press(pilot, "y")
        await settle(pilot)
        assert "the gateway ignores the route" in log_text(app)
        assert world.live() is BLUE and world.writes() == writes
