"""The embedded default backend: a simulated service (``kind = "simulator"``)."""

from backends.simulator.world import SCENARIOS, SimulatorMetrics, SimulatorRouter, SimWorld

__all__ = ["SCENARIOS", "SimWorld", "SimulatorMetrics", "SimulatorRouter"]
