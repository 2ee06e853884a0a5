"""The simulator's scenarios: what happens to green once it takes traffic. Pure functions of the
simulated time and parameters drawn once from the world's seeded random generator."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

SCENARIOS: dict[str, str] = {
    "healthy": "both colours healthy: ~0.2 % errors, p99 ~200 ms",
    "bad-release": "green's error % climbs to ~25 % some 6-8 s after it takes traffic",
    "slow-release": (
        "green's p99 degrades from ~200 ms to ~1700 ms over ~15 s after it takes traffic"
    ),
    "flapping": "green's error % swings between ~2 % and ~8 % every 15 s (alarm hysteresis)",
    "server-failure": (
        "one green server goes DOWN 6-10 s after green takes traffic (small error bump)"
    ),
}


def ramp(e: float, start: float, length: float) -> float:
    """0 before ``start``, 1 after ``start + length``, smooth in between."""
    x = min(max((e - start) / length, 0.0), 1.0)
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class ScenarioDraw:
    """The random parameters of every scenario, drawn for every scenario (in this order) so that
    the world's random sequence never depends on which one runs."""

    bad_delay: float
    bad_peak: float
    fail_delay: float
    fail_index: int

    @classmethod
    def draw(cls, rng: random.Random, servers: int) -> ScenarioDraw:
        return cls(
            bad_delay=rng.uniform(6.0, 8.0),
            bad_peak=rng.uniform(20.0, 28.0),
            fail_delay=rng.uniform(6.0, 10.0),
            fail_index=rng.randrange(servers),
        )


def effects(
    scenario: str, draw: ScenarioDraw, elapsed: float, since_failure: float | None
) -> tuple[float, float]:
    """(extra error %, latency factor) for green, ``elapsed`` seconds after it began taking traffic;
    ``since_failure``: seconds since the server-failure scenario took a server down (or None)."""
    if scenario == "bad-release":
        r = ramp(elapsed, draw.bad_delay, 4.0)
        return draw.bad_peak * r, 1.0 + 0.3 * r
    if scenario == "slow-release":
        return 0.0, 1.0 + 7.5 * ramp(elapsed, 3.0, 15.0)
    if scenario == "flapping":  # a smoothed square wave, low first, period 30 s
        return 5.0 - 3.0 * math.tanh(3.0 * math.cos(2 * math.pi * elapsed / 30.0)), 1.0
    if scenario == "server-failure" and since_failure is not None:
        return 3.0 * math.exp(-since_failure / 4.0), 1.0
    return 0.0, 1.0
