"""``sync`` on a real HAProxy: what it refuses (the contract suites check what it does)."""

from __future__ import annotations

import pytest

from backends.base import ActionRefused, Colour
from backends.haproxy.io import rewrite_map_file
from console.config import load
from console.runtime import build
from tests.support.router_worlds import haproxy_config, haproxy_world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_sync_refuses_when_something_else_keeps_the_map_file(tmp_path):
    with haproxy_world(tmp_path) as world:
        config, _ = haproxy_config(
            tmp_path,
            str(world.lab.socket),
            str(world.lab.map),
            extra="map_file_write = false\n",
            name="other.toml",
        )
        runtime = build(load(config).pick(None), source=str(config))
        try:
            rewrite_map_file(str(world.lab.map), "/", "green-backend")  # drifted by hand
            with pytest.raises(ActionRefused, match="map_file_write = false"):
                runtime.router.sync_preview()
            with pytest.raises(ActionRefused, match="map_file_write = false"):
                runtime.router.sync()
            assert world.map_file_value() == "green-backend"  # left as it was
            assert world.live() is Colour.BLUE
        finally:
            runtime.close()
