"""The embedded default backend (``kind = "simulator"``): a simulated service, no infrastructure.

``SimulatorRouter`` and ``SimulatorMetrics`` share one ``SimWorld`` through ``context.shared``, so a
switch made through the router shows up in the metrics. Modules: ``router``, ``source``,
``options`` (the typed options), ``world`` (the simulation), ``scenarios`` (what goes wrong, when).
"""

from backends.simulator.options import SimulatorOptions
from backends.simulator.router import SimulatorRouter
from backends.simulator.scenarios import SCENARIOS
from backends.simulator.source import SimulatorMetrics
from backends.simulator.world import SimWorld

__all__ = ["SCENARIOS", "SimWorld", "SimulatorMetrics", "SimulatorOptions", "SimulatorRouter"]
