"""The embedded simulator: deterministic, clock-driven, and consistent between router and metrics."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest

from backends.base import (
    ActionRefused,
    BackendContext,
    BackendTimeout,
    Colour,
    ConfigError,
    ServerStatus,
    Unreachable,
)
from backends.clock import ManualClock
from backends.simulator import SCENARIOS, SimulatorMetrics, SimulatorRouter, SimWorld

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def make(scenario: str = "healthy", seed: int | None = None, metrics_options=None, **options):
    clock = ManualClock()
    ctx = BackendContext(service="shop", clock=clock, seed=seed)
    router = SimulatorRouter({"scenario": scenario, **options}, ctx)
    metrics = SimulatorMetrics(metrics_options or {}, ctx)
    return router, metrics, clock


def run(clock: ManualClock, metrics: SimulatorMetrics, seconds: float, step: float = 1.0):
    """Advance ``seconds`` in ``step``s, sampling after each; returns the samples."""
    out = []
    for _ in range(round(seconds / step)):
        clock.advance(step)
        out.append(metrics.sample())
    return out


def test_start_state_blue_live_green_idle():
    router, metrics, clock = make()
    state = router.state()
    assert state.live is BLUE
    assert state.colour(BLUE).weight == 100 and state.colour(GREEN).weight == 0
    assert state.colour(BLUE).version == "v1.4.2" and state.colour(GREEN).version == "v1.5.0"
    assert [s.name for s in state.colour(GREEN).servers] == ["green-1", "green-2", "green-3"]
    assert all(s.status is ServerStatus.UP for c in (BLUE, GREEN) for s in state.colour(c).servers)
    assert state.detail == {"scenario": "healthy", "seed": "7"}
    sample = run(clock, metrics, 10)[-1]
    assert 80 < sample[BLUE].rate < 160
    assert 0 < sample[BLUE].error_pct < 1
    assert 120 < sample[BLUE].latency_ms < 300 and sample[BLUE].latency_stat == "p99"
    assert 100 < sample[BLUE].sessions < 300
    assert sample[GREEN].rate == 0 and sample[GREEN].sessions == 0


def test_no_traffic_colour_reports_none_with_notes():
    _, metrics, clock = make()
    clock.advance(3)
    green = metrics.sample()[GREEN]
    assert green.error_pct is None and green.latency_ms is None
    assert green.notes == {"error_pct": "no traffic", "latency_ms": "no traffic"}


def test_same_seed_same_clock_gives_identical_numbers():
    runs = []
    for _ in range(2):
        router, metrics, clock = make("bad-release", seed=42)
        clock.advance(4)
        router.switch(GREEN)
        runs.append(run(clock, metrics, 20, step=0.7) + [router.state()])
    assert runs[0] == runs[1]
    other_router, other_metrics, other_clock = make("bad-release", seed=43)
    assert run(other_clock, other_metrics, 3) != runs[0][:3]


def test_reads_do_not_change_the_numbers():
    a_router, a_metrics, a_clock = make(seed=1)
    b_router, b_metrics, b_clock = make(seed=1)
    a_metrics.sample()  # the world is built (its time starts) at first use
    b_metrics.sample()
    a_clock.advance(30)
    for _ in range(6):
        b_clock.advance(5)
        b_metrics.sample()
        b_router.state()
    assert a_metrics.sample() == b_metrics.sample()


def test_switch_moves_traffic_at_once_and_old_sessions_decay_to_zero():
    router, metrics, clock = make()
    clock.advance(10)
    before = router.state().fingerprint
    state = router.switch(GREEN)
    assert state.live is GREEN and state.fingerprint != before
    assert state.colour(GREEN).weight == 100 and state.colour(BLUE).weight == 0
    now = metrics.sample()  # same instant: the split is already the new one
    assert now[BLUE].rate == 0 and now[GREEN].rate > 50
    assert now[BLUE].sessions > 100  # in-flight requests still finishing
    samples = run(clock, metrics, 15, step=0.5)
    blue_sessions = [s[BLUE].sessions for s in samples]
    assert blue_sessions[2] > 10  # visible for a few seconds
    assert all(a >= b for a, b in pairwise(blue_sessions))
    assert blue_sessions[-1] == 0
    assert samples[-1][GREEN].sessions > 100
    assert router.state().colour(BLUE).metrics.sessions == 0


def test_switch_to_live_colour_keeps_fingerprint():
    router, _, clock = make()
    first = router.state().fingerprint
    clock.advance(5)
    assert router.switch(BLUE).fingerprint == first  # no routing change, no new fingerprint
    assert router.drain(GREEN).fingerprint != first


def test_drain_stops_new_traffic_and_ready_restores():
    router, metrics, clock = make()
    clock.advance(10)
    state = router.drain(BLUE)
    blue = state.colour(BLUE)
    assert blue.draining and all(s.status is ServerStatus.DRAIN for s in blue.servers)
    assert blue.healthy_servers == 3
    samples = run(clock, metrics, 15)
    assert all(s[BLUE].rate == 0 for s in samples)
    assert samples[-1][BLUE].sessions == 0
    state = router.ready(BLUE)
    assert not state.colour(BLUE).draining
    assert all(s.status is ServerStatus.UP for s in state.colour(BLUE).servers)
    assert metrics.sample()[BLUE].rate > 50
    assert run(clock, metrics, 10)[-1][BLUE].sessions > 100


def test_weights_split_rate_roughly_in_proportion():
    router, metrics, clock = make()
    state = router.set_weights({BLUE: 70, GREEN: 30})
    assert (state.colour(BLUE).weight, state.colour(GREEN).weight) == (70, 30)
    assert state.live is BLUE
    samples = run(clock, metrics, 20)
    ratio = sum(s[GREEN].rate for s in samples) / sum(s[BLUE].rate + s[GREEN].rate for s in samples)
    assert ratio == pytest.approx(0.3, abs=0.01)
    assert samples[-1][GREEN].error_pct is not None
    assert router.set_weights({BLUE: 20, GREEN: 80}).live is GREEN
    # draining one side of a split sends its share to the other
    router.drain(GREEN)
    assert metrics.sample()[GREEN].rate == 0 and metrics.sample()[BLUE].rate > 50


@pytest.mark.parametrize(
    "weights, words",
    [
        ({BLUE: 70, GREEN: 40}, "add up to 100"),
        ({BLUE: 120, GREEN: -20}, "expected 0..100"),
        ({BLUE: 50.5, GREEN: 49.5}, "expected 0..100"),
        ({"red": 100}, "unknown colour 'red'"),
    ],
)
def test_invalid_weights_refused_and_nothing_changes(weights, words):
    router, _, _ = make()
    before = router.state()
    with pytest.raises(ActionRefused, match=words):
        router.set_weights(weights)
    assert router.state().fingerprint == before.fingerprint
    assert router.supports_weights


def test_bad_release_fires_after_switch_and_rollback_is_healthy():
    router, metrics, clock = make("bad-release")
    clock.advance(30)
    router.switch(GREEN)
    samples = run(clock, metrics, 20, step=0.5)
    assert samples[2][GREEN].error_pct < 1  # healthy at first
    assert max(s[GREEN].error_pct for s in samples) > 15
    assert max(s[GREEN].error_pct for s in samples[:30]) > 5  # within 15 s
    router.switch(BLUE)
    samples = run(clock, metrics, 30)
    assert all(s[GREEN].error_pct is None for s in samples)
    assert all(s[BLUE].error_pct < 1 for s in samples)


def test_slow_release_p99_crosses_1000():
    router, metrics, clock = make("slow-release")
    router.switch(GREEN)
    samples = run(clock, metrics, 30)
    assert samples[0][GREEN].latency_ms < 400
    assert min(s[GREEN].latency_ms for s in samples[-8:]) > 1000
    assert max(s[GREEN].latency_ms for s in samples) < 2500


def test_flapping_crosses_five_percent_both_ways():
    router, metrics, clock = make("flapping")
    router.switch(GREEN)
    errors = [s[GREEN].error_pct for s in run(clock, metrics, 70)]
    above = [e > 5 for e in errors]
    ups = sum(1 for a, b in pairwise(above) if not a and b)
    downs = sum(1 for a, b in pairwise(above) if a and not b)
    assert ups >= 2 and downs >= 1
    assert min(errors) < 3 and max(errors) > 7


def test_server_failure_takes_one_green_server_down():
    router, metrics, clock = make("server-failure")
    router.switch(GREEN)
    assert router.state().colour(GREEN).healthy_servers == 3
    samples = run(clock, metrics, 15)
    green = router.state().colour(GREEN)
    assert green.healthy_servers == 2
    down = [s for s in green.servers if s.status is ServerStatus.DOWN]
    assert len(down) == 1 and down[0].sessions == 0
    assert max(s[GREEN].error_pct for s in samples) > 1  # the bump
    assert sum(s.sessions for s in green.servers) == green.metrics.sessions


def test_options_can_come_from_either_table_router_wins():
    router, metrics, _ = make("healthy", metrics_options={"scenario": "flapping", "rate": 50})
    assert metrics.world.scenario == "healthy" and metrics.world.rate == 50
    assert router.world is metrics.world
    ctx = BackendContext(service="x", clock=ManualClock())
    metrics = SimulatorMetrics({"scenario": "slow-release", "servers": 2}, ctx)
    router = SimulatorRouter({}, ctx)
    state = router.state()
    assert state.detail["scenario"] == "slow-release" and len(state.colour(BLUE).servers) == 2
    assert "lognormal" in metrics.describe()["latency_ms"]


def test_faults_down_and_clear():
    router, metrics, _ = make()
    world = router.world
    world.set_fault("router", "down")
    with pytest.raises(Unreachable, match="simulated router is down"):
        router.state()
    with pytest.raises(Unreachable):
        router.switch(GREEN)
    metrics.sample()  # the other side still answers
    world.set_fault("metrics", "down")
    with pytest.raises(Unreachable, match="simulated metrics source is down"):
        metrics.sample()
    world.set_fault("router", None)
    world.set_fault("metrics", None)
    assert router.state().live is BLUE and metrics.sample()[BLUE].rate > 0


def test_fault_hang_blocks_until_released():
    router, metrics, _ = make()
    world = router.world
    world.set_fault("router", "hang")
    result = []
    worker = threading.Thread(target=lambda: result.append(router.state()), daemon=True)
    worker.start()
    worker.join(0.05)
    assert worker.is_alive() and not result
    metrics.sample()  # a hung router does not hold the world's lock
    world.release()
    worker.join(2)
    assert not worker.is_alive() and result[0].live is BLUE


def test_fault_hang_wait_is_bounded():
    _, metrics, _ = make()
    metrics.world.hang_timeout = 0.05
    metrics.world.set_fault("metrics", "hang")
    with pytest.raises(BackendTimeout, match="did not answer"):
        metrics.sample()


def test_fault_arguments_checked():
    world = SimWorld(clock=ManualClock())
    with pytest.raises(ValueError):
        world.set_fault("database", "down")
    with pytest.raises(ValueError):
        world.set_fault("router", "slow")


def test_long_gap_skips_ahead_quickly():
    router, metrics, clock = make()
    clock.advance(30 * 24 * 3600)
    assert metrics.sample()[BLUE].rate > 50
    assert router.world.t > clock() - 1


@pytest.mark.parametrize(
    "options, words",
    [
        (
            {"scenario": "bad"},
            "option `scenario`: found 'bad'; expected one of: healthy, bad-release",
        ),
        ({"rate": 0}, "option `rate`: found 0; expected"),
        ({"rate": "fast"}, "option `rate`: found 'fast'"),
        ({"servers": 0}, "option `servers`: found 0; expected a whole number"),
        ({"servers": 2.5}, "option `servers`: found 2.5"),
        ({"seed": "x"}, "option `seed`: found 'x'"),
        ({"blue_version": ""}, "option `blue_version`: found ''"),
        ({"colour": "red"}, "option `colour`: found an unknown option; expected one of: scenario"),
    ],
)
def test_config_errors_name_key_found_and_expected(options, words):
    ctx = BackendContext(service="x", clock=ManualClock())
    with pytest.raises(ConfigError) as err:
        SimulatorRouter(options, ctx)
    assert words in str(err.value)
    with pytest.raises(ConfigError):
        SimulatorMetrics(options, BackendContext(service="x"))


def test_scenarios_listed_with_descriptions():
    assert list(SCENARIOS) == [
        "healthy",
        "bad-release",
        "slow-release",
        "flapping",
        "server-failure",
    ]
    assert all(isinstance(d, str) and d for d in SCENARIOS.values())


def test_the_router_counts_responses_and_5xx_as_haproxy_does():
    """The counters behind error %: they grow with the traffic each colour takes, and the 5xx share
    of a stretch is the error % the metrics show for it."""
    router, metrics, clock = make("bad-release")
    router.state()  # the world starts at the first call
    clock.advance(10)
    first = router.state()
    assert first.colour(GREEN).metrics.requests_total == 0  # idle: counted, nothing came
    assert first.colour(BLUE).metrics.requests_total == pytest.approx(10 * 120, rel=0.2)
    router.switch(GREEN)
    clock.advance(1)
    a = router.state().colour(GREEN).metrics
    rates = run(clock, metrics, 60)
    b = router.state().colour(GREEN).metrics
    requests, errors = b.requests_total - a.requests_total, b.errors_total - a.errors_total
    assert requests == pytest.approx(sum(s[GREEN].rate for s in rates), rel=0.05)
    shown = sum(s[GREEN].error_pct * s[GREEN].rate for s in rates) / sum(
        s[GREEN].rate for s in rates
    )
    assert 100 * errors / requests == pytest.approx(shown, rel=0.1)
    blue = router.state().colour(BLUE).metrics
    assert blue.requests_total > 0 and blue.errors_total < blue.requests_total
