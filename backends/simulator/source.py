"""The simulator's metrics source: measures the simulated world shared with the router."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.base import BackendContext, Colour, ColourMetrics, MetricsSource
from backends.simulator.options import SimulatorOptions, load_options
from backends.simulator.world import SimWorld, WorldSlot


class SimulatorMetrics(MetricsSource):
    """Measures the simulated service shared with ``SimulatorRouter`` (same ``context.shared``).

    Rate and sessions follow the router's split; error % and p99 follow the scenario. A colour with
    no traffic reports rate 0 and no error % / p99 (note "no traffic"). Same options as the router.
    """

    kind = "simulator"

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self.opts: SimulatorOptions = load_options(self.options, context, "metrics source")
        self._slot = WorldSlot("metrics", self.options, context)

    @property
    def world(self) -> SimWorld:
        """The simulated world shared with the service's router."""
        return self._slot.world

    def sample(self) -> Mapping[Colour, ColourMetrics]:
        world = self.world
        world.check_fault("metrics")
        return world.sample()

    def describe(self) -> Mapping[str, str]:
        return self.world.describe()
