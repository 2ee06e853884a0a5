"""The simulator's router: moves the traffic of the simulated world; nothing leaves the process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.base import BackendContext, Colour, Router, RouterState
from backends.simulator.options import SimulatorOptions, load_options
from backends.simulator.world import SimWorld, WorldSlot


class SimulatorRouter(Router):
    """Routes a simulated service; nothing leaves the process.

    * **switch** ``to``: ``to`` becomes live with weight 100 (the other colour 0) at once, and a
      drain on ``to`` is lifted; the old colour's in-flight sessions decay to 0 over ~10 s.
    * **drain** ``colour``: its servers show DRAIN and it gets no new requests (its share goes to
      the other colour if that has weight); its sessions decay to 0. Its configured weight is kept.
    * **ready** ``colour``: lift the drain; the colour takes its configured weight again.
    * **set_weights**: split new traffic by percent (0..100 each, adding up to 100).

    Options (on this table or the metrics one; this one wins): ``scenario`` (see SCENARIOS),
    ``seed``, ``rate`` (req/s), ``servers`` (per colour), ``blue_version``, ``green_version``.
    """

    kind = "simulator"
    SUPPORTS_WEIGHTS = True

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self.opts: SimulatorOptions = load_options(self.options, context, "router")
        self._slot = WorldSlot("router", self.options, context)

    @property
    def world(self) -> SimWorld:
        """The simulated world shared with the service's metrics source (tests drive it)."""
        return self._slot.world

    def _world(self) -> SimWorld:
        world = self.world
        world.check_fault("router")
        return world

    def state(self) -> RouterState:
        return self._world().router_state()

    def switch(self, to: Colour) -> RouterState:
        return self._world().switch(to)

    def drain(self, colour: Colour) -> RouterState:
        return self._world().drain(colour)

    def ready(self, colour: Colour) -> RouterState:
        return self._world().ready(colour)

    def set_weights(self, weights: Mapping[Colour, int]) -> RouterState:
        return self._world().set_weights(weights)
