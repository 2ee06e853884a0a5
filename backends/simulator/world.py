"""The simulated world behind the embedded default backend: a service whose two colours are small
fleets.

``SimulatorRouter`` and ``SimulatorMetrics`` share one ``SimWorld`` through ``context.shared``, so a
switch made through the router shows up in the metrics. The world reads time only from the injected
clock and randomness only from ``random.Random(seed)``: the same seed and the same clock readings give
the same numbers, and nothing ever sleeps. It advances lazily, in fixed steps, whenever it is asked.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    BackendTimeout,
    Colour,
    ColourMetrics,
    ColourState,
    RouterState,
    ServerState,
    ServerStatus,
    Unreachable,
)
from backends.clock import system_clock
from backends.simulator.options import SimulatorOptions, load_options
from backends.simulator.scenarios import ScenarioDraw, effects

STEP = 0.25  # simulated seconds per integration step
MAX_STEPS = 480  # at most 2 simulated minutes per call; a longer gap skips ahead
SESSION_S = 1.5  # mean time a request stays in flight; sessions decay with this time constant
Z99 = 2.3263  # standard normal 99th percentile
SIGMA = math.log(5.0) / Z99  # lognormal spread: p99 = 5 x median (median 40 ms -> p99 200 ms)
NO_TRAFFIC = {"error_pct": "no traffic", "latency_ms": "no traffic"}
FAULT_MODES = (None, "down", "hang")
_NOUN = {"router": "router", "metrics": "metrics source"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ou(x: float, tau: float, std: float, rng: random.Random) -> float:
    """One STEP of a mean-reverting random walk (Ornstein-Uhlenbeck) with stationary std ``std``."""
    return x - x * STEP / tau + std * math.sqrt(2 * STEP / tau) * rng.gauss(0.0, 1.0)


@dataclass
class _Side:
    """One colour's mutable state inside the world."""

    version: str
    servers: list[str]
    base_err: float  # healthy error %
    median_ms: float  # healthy median latency
    weight: int = 0  # configured share of new traffic, percent
    draining: bool = False
    down: set[str] = field(default_factory=set)
    since: float | None = None  # simulated time this colour last began receiving traffic
    sessions: float = 0.0
    err_pct: float = 0.0
    p99_ms: float = 0.0
    requests: float = 0.0  # responses so far (the router's counter), and of those the 5xx ones
    errors: float = 0.0
    err_w: float = 0.0  # slow wander of the error % (log space)
    lat_w: float = 0.0  # slow wander of the latency (log space)


class SimWorld:
    """One simulated service: blue and green fleets, offered load, a scenario, injectable faults.

    Every public method is thread-safe. Tests reach it as ``router.world`` / ``metrics.world``.
    ``set_fault(target, mode)`` makes the ``"router"`` or ``"metrics"`` calls fail (``"down"``:
    raise Unreachable) or block (``"hang"``: until ``release()``, at most ``hang_timeout`` seconds,
    then raise BackendTimeout).
    """

    def __init__(
        self,
        options: SimulatorOptions | Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(options, SimulatorOptions):
            raw = dict(options or {})
            if "seed" not in raw and seed is not None:
                raw["seed"] = seed
            options = load_options(raw, BackendContext(service="simulator"))
        self.options = options
        self.scenario: str = options.scenario
        self.rate: float = options.rate
        self._clock = clock or system_clock
        self._rng = random.Random(options.seed)
        self._lock = threading.RLock()
        self._faults: dict[str, str | None] = {"router": None, "metrics": None}
        self._released = {t: threading.Event() for t in self._faults}
        self.hang_timeout = 60.0
        n = options.servers
        versions = {Colour.BLUE: options.blue_version, Colour.GREEN: options.green_version}
        self._sides = {
            c: _Side(versions[c], [f"{c}-{i}" for i in range(1, n + 1)], base, med)
            for c, base, med in ((Colour.BLUE, 0.2, 42.0), (Colour.GREEN, 0.25, 38.0))
        }
        # Scenario parameters: drawn for every scenario, so the random sequence never depends on it.
        self._draw = ScenarioDraw.draw(self._rng, n)
        self._fail_server = self._sides[Colour.GREEN].servers[self._draw.fail_index]
        self._failed_at: float | None = None
        self.live = Colour.BLUE
        self._sides[Colour.BLUE].weight = 100
        self._revision = 0
        self.t = float(self._clock())
        self._load_w = 0.0
        self.offered = self.rate
        self._routing_changed()
        self._sides[Colour.BLUE].sessions = self.rate * SESSION_S
        for side in self._sides.values():
            side.err_pct, side.p99_ms = side.base_err, side.median_ms * math.exp(Z99 * SIGMA)

    def set_fault(self, target: str, mode: str | None) -> None:
        """``target`` "router" or "metrics"; ``mode`` None (healthy), "down" or "hang"."""
        if target not in self._faults:
            raise ValueError(f"fault target {target!r}: expected 'router' or 'metrics'")
        if mode not in FAULT_MODES:
            raise ValueError(f"fault mode {mode!r}: expected None, 'down' or 'hang'")
        with self._lock:
            self._faults[target] = mode
            if mode == "hang":
                self._released[target].clear()
            else:
                self._released[target].set()

    def release(self, target: str | None = None) -> None:
        """End a "hang" fault (on ``target``, or on both): blocked calls carry on normally."""
        for t in [target] if target else list(self._faults):
            if self._faults[t] == "hang":
                self.set_fault(t, None)

    def check_fault(self, target: str) -> None:
        """Called on entry by the router / metrics source; raises or blocks as the fault says."""
        noun = _NOUN[target]
        if self._faults[target] == "hang" and not self._released[target].wait(self.hang_timeout):
            raise BackendTimeout(
                f"simulated {noun} did not answer within {self.hang_timeout:g} s (hang fault)"
            )
        if self._faults[target] == "down":
            raise Unreachable(
                f"simulated {noun} is down (fault injected with set_fault({target!r}, 'down')); "
                f"clear it with set_fault({target!r}, None)"
            )

    def advance(self) -> None:
        """Integrate up to the clock's now, in fixed steps; skip ahead over a long gap."""
        with self._lock:
            steps = int((float(self._clock()) - self.t) / STEP)
            if steps > MAX_STEPS:
                self.t += (steps - MAX_STEPS) * STEP
                steps = MAX_STEPS
            for _ in range(max(steps, 0)):
                self._step()

    def _shares(self) -> dict[Colour, float]:
        eff = {c: 0 if s.draining else s.weight for c, s in self._sides.items()}
        total = sum(eff.values())
        return {c: (eff[c] / total if total else 0.0) for c in COLOURS}

    def _step(self) -> None:
        rng, self.t = self._rng, self.t + STEP
        self._load_w = _ou(self._load_w, 20.0, 0.08, rng)
        self.offered = self.rate * max(0.0, 1.0 + self._load_w + rng.gauss(0.0, 0.03))
        shares, decay = self._shares(), math.exp(-STEP / SESSION_S)
        for c, s in self._sides.items():
            s.err_w, s.lat_w = _ou(s.err_w, 10.0, 0.25, rng), _ou(s.lat_w, 15.0, 0.08, rng)
            noise_e, noise_l = s.err_w + rng.gauss(0.0, 0.15), s.lat_w + rng.gauss(0.0, 0.06)
            extra, factor = self._scenario_effects(c)
            err = s.base_err * math.exp(noise_e) + extra * math.exp(0.3 * noise_e)
            s.err_pct = 100.0 if len(s.down) == len(s.servers) else min(err, 100.0)
            capacity = 1.0 + 0.5 * len(s.down) / len(s.servers)
            s.p99_ms = s.median_ms * math.exp(Z99 * SIGMA + noise_l) * factor * capacity
            arrivals = self.offered * shares[c]
            s.requests += arrivals * STEP
            s.errors += arrivals * STEP * s.err_pct / 100.0
            s.sessions = s.sessions * decay + arrivals * SESSION_S * (1.0 - decay)
            if arrivals == 0 and s.sessions < 0.5:
                s.sessions = 0.0

    def _scenario_effects(self, colour: Colour) -> tuple[float, float]:
        """(extra error %, latency factor) for ``colour`` at the world's time."""
        since = self._sides[colour].since
        if colour is not Colour.GREEN or since is None:
            return 0.0, 1.0
        elapsed = self.t - since
        failing = self.scenario == "server-failure" and self._failed_at is None
        if failing and elapsed >= self._draw.fail_delay:
            self._failed_at = self.t
            self._sides[colour].down.add(self._fail_server)
        since_failure = None if self._failed_at is None else self.t - self._failed_at
        return effects(self.scenario, self._draw, elapsed, since_failure)

    def _routing_key(self) -> tuple[Any, ...]:
        return (self.live, *((s.weight, s.draining) for s in self._sides.values()))

    def _routing_changed(self) -> None:
        self._revision += 1
        for c, share in self._shares().items():
            side = self._sides[c]
            if share == 0:
                side.since = None
            elif side.since is None:
                side.since = self.t

    def _change(self, mutate: Callable[[], None]) -> RouterState:
        with self._lock:
            self.advance()
            before = self._routing_key()
            mutate()
            if self._routing_key() != before:
                self._routing_changed()
            return self.router_state()

    def switch(self, to: Colour) -> RouterState:
        def mutate() -> None:
            self.live = to
            self._sides[to].weight, self._sides[to.other].weight = 100, 0
            self._sides[to].draining = False

        return self._change(mutate)

    def drain(self, colour: Colour) -> RouterState:
        return self._change(lambda: setattr(self._sides[colour], "draining", True))

    def ready(self, colour: Colour) -> RouterState:
        return self._change(lambda: setattr(self._sides[colour], "draining", False))

    def set_weights(self, weights: Mapping[Colour, int]) -> RouterState:
        parsed: dict[Colour, int] = {}
        for key, value in weights.items():
            try:
                colour = key if isinstance(key, Colour) else Colour.parse(str(key))
            except ValueError as exc:
                raise ActionRefused(f"weights: {exc}") from None
            if not _is_int(value) or not 0 <= value <= 100:
                raise ActionRefused(f"weight for {colour}: found {value!r}; expected 0..100")
            parsed[colour] = value
        full = {c: parsed.get(c, 0) for c in COLOURS}
        if sum(full.values()) != 100:
            shown = ", ".join(f"{c}={w}" for c, w in full.items())
            raise ActionRefused(f"weights must add up to 100 (got {shown}); nothing was changed")

        def mutate() -> None:
            for c, w in full.items():
                self._sides[c].weight = w
            if full[self.live.other] > full[self.live]:
                self.live = self.live.other

        return self._change(mutate)

    def router_state(self) -> RouterState:
        with self._lock:
            self.advance()
            shares, colours = self._shares(), {}
            for c, s in self._sides.items():
                colours[c] = ColourState(
                    colour=c,
                    servers=self._servers(s),
                    draining=s.draining,
                    weight=s.weight,
                    version=s.version,
                    metrics=ColourMetrics(
                        rate=round(self.offered * shares[c], 2),
                        sessions=float(round(s.sessions)),
                        requests_total=float(math.floor(s.requests)),
                        errors_total=float(math.floor(s.errors)),
                    ).with_sources("simulator"),
                )
            key = self._routing_key()
            flags = "/".join(f"{w}{'d' if d else ''}" for w, d in key[1:])
            return RouterState(
                live=self.live,
                colours=colours,
                fingerprint=f"sim-{self._revision}:{self.live}:{flags}",
                detail={"scenario": self.scenario, "seed": str(self.options.seed)},
            )

    @staticmethod
    def _servers(s: _Side) -> tuple[ServerState, ...]:
        up = [n for n in s.servers if n not in s.down]
        total = round(s.sessions)
        out = []
        for name in s.servers:
            if name in s.down:
                out.append(ServerState(name, ServerStatus.DOWN, 0, 0, "L4CON"))
                continue
            i = up.index(name)
            share = total // len(up) + (1 if i < total % len(up) else 0)
            status = ServerStatus.DRAIN if s.draining else ServerStatus.UP
            out.append(ServerState(name, status, 0 if s.draining else 1, share, "L7OK"))
        return tuple(out)

    def sample(self) -> dict[Colour, ColourMetrics]:
        with self._lock:
            self.advance()
            shares, out = self._shares(), {}
            for c, s in self._sides.items():
                rate, sessions = self.offered * shares[c], float(round(s.sessions))
                if rate <= 0:
                    m = ColourMetrics(rate=0.0, sessions=sessions, notes=dict(NO_TRAFFIC))
                else:
                    m = ColourMetrics(
                        rate=round(rate, 2),
                        error_pct=round(s.err_pct, 3),
                        latency_ms=round(s.p99_ms, 1),
                        sessions=sessions,
                    )
                out[c] = m.with_sources("simulator")
            return out

    def describe(self) -> dict[str, str]:
        return {
            "rate": f"simulated: offered load ~{self.rate:g} req/s (slow wander + jitter), "
            "split by the router's weights; a draining colour gets none",
            "error_pct": f"simulated: per-colour error % with noise, scenario {self.scenario!r}",
            "latency_ms": f"simulated: lognormal latency p99 (median ~40 ms, sigma {SIGMA:.2f}) "
            "with noise",
            "sessions": f"simulated: in-flight requests, arrival rate x {SESSION_S:g} s; "
            "decay to 0 when a colour stops receiving traffic",
        }


class WorldSlot:
    """Where a service's router and metrics source meet: ``context.shared["simulator"]``. The world
    is built at first use from both tables (the router's options win)."""

    def __init__(self, role: str, options: Mapping[str, Any], context: BackendContext) -> None:
        self._slot: dict[str, Any] = context.shared.setdefault(
            "simulator", {"lock": threading.Lock()}
        )
        with self._slot["lock"]:
            self._slot[role] = (dict(options), context)

    @property
    def world(self) -> SimWorld:
        slot = self._slot
        with slot["lock"]:
            if "world" not in slot:
                ctx: BackendContext = (slot.get("router") or slot["metrics"])[1]
                options = {**slot.get("metrics", ({},))[0], **slot.get("router", ({},))[0]}
                options = {k: v for k, v in options.items() if k != "kind"}
                if "seed" not in options and ctx.seed is not None:
                    options["seed"] = ctx.seed
                slot["world"] = SimWorld(load_options(options, ctx), clock=ctx.clock)
            world: SimWorld = slot["world"]
            return world
