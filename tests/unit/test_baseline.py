"""Green against blue during the bake (console.baseline): the baseline is blue's figures from before
the switch only, a weighted split compares the two colours live, too few figures say "no data", and
with compare = "require" a failing metric fails the bake by name while no data holds it."""

from __future__ import annotations

import random

from backends.base import Colour, ColourMetrics, ColourState, RouterState
from console.alarms import BakeTracker
from console.baseline import BaselineTracker
from console.model import BakeState, BakeVerdict, Snapshot

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def router(live: Colour, weights: tuple[int, int] | None = None) -> RouterState:
    w = weights or ((100, 0) if live == BLUE else (0, 100))
    return RouterState(
        live,
        {BLUE: ColourState(BLUE, weight=w[0]), GREEN: ColourState(GREEN, weight=w[1])},
    )


def figures(err: float, p99: float, rate: float = 100.0) -> ColourMetrics:
    return ColourMetrics(rate=rate, error_pct=err, latency_ms=p99, sessions=rate * 0.05)


QUIET = ColourMetrics(rate=0.0, sessions=0.0, notes={"error_pct": "no traffic"})


class Scene:
    """A Monitor's loop by hand: a manual monotonic clock, one fresh frame per second."""

    def __init__(self, span: float = 60.0, window: float = 30.0, seed: int = 1) -> None:
        self.t = 1000.0
        self.rng = random.Random(seed)
        self.tracker = BaselineTracker(span, window, 1.0)
        self.bake = BakeTracker(window)
        self.live = BLUE
        self.weights: tuple[int, int] | None = None

    def noisy(self, err: float, p99: float) -> ColourMetrics:
        return figures(max(0.0, self.rng.gauss(err, err * 0.1)), self.rng.gauss(p99, p99 * 0.05))

    def frame(
        self,
        blue: ColourMetrics,
        green: ColourMetrics,
        require: bool = False,
        fresh: bool = True,
    ) -> tuple[BakeState, object]:
        self.t += 1.0
        snap = Snapshot(
            "shop",
            self.t,
            router=router(self.live, self.weights),
            metrics={BLUE: blue, GREEN: green},
        )
        self.tracker.observe(snap, fresh)
        gate = self.tracker.gate if require else None
        state = self.bake.update(self.t, self.live, None, fresh, gate)
        return state, self.tracker.comparison(state)


def test_green_is_judged_against_blues_figures_before_the_switch_only():
    s = Scene()
    for _ in range(40):  # blue live and healthy: the baseline
        s.frame(s.noisy(0.3, 120.0), QUIET)
    s.live = GREEN
    for _ in range(10):  # green live and bad; blue's figures now (no traffic) must not count
        state, c = s.frame(
            ColourMetrics(rate=0.0, error_pct=50.0, latency_ms=9999.0), s.noisy(3.1, 125.0)
        )
    assert state.verdict == BakeVerdict.BAKING and c is not None
    assert (c.colour, c.against, c.live, c.source) == (GREEN, BLUE, False, "polls")
    err, p99 = c.get("error_pct"), c.get("latency_ms")
    assert err.samples == (40, 10) and err.score == "fail"  # 40 polls of blue before the switch
    assert 0.25 < err.baseline < 0.35 and 2.8 < err.current < 3.4  # blue's 50 % after it: unseen
    assert p99.score in ("pass", "marginal") and p99.baseline < 130  # not blue's 9999 after it
    assert c.score == "fail"
    line = c.summary()
    assert line.startswith("vs blue's baseline (40s): error % 0.3 → 3.")
    assert "FAIL" in line and "p99 1" in line
    assert c.failure().startswith("error % 3.") and "against blue's 0." in c.failure()
    assert c.to_json()["metrics"]["rate"]["score"] is None  # traffic: shown, not judged


def test_a_healthy_release_passes_and_the_comparison_is_kept_after_the_window():
    s = Scene(window=20.0)
    for _ in range(30):
        s.frame(s.noisy(0.3, 120.0), QUIET)
    s.live = GREEN
    for _ in range(25):
        state, c = s.frame(QUIET, s.noisy(0.3, 118.0))
    assert state.verdict == BakeVerdict.PASSED
    assert c is not None and c.score in ("pass", "marginal")
    assert c.get("error_pct").samples[1] == 21  # the window's figures only: frozen at its end
    _, later = s.frame(QUIET, figures(40.0, 900.0))
    assert later == c


def test_the_span_bounds_the_baseline():
    s = Scene(span=10.0)
    for _ in range(20):
        s.frame(s.noisy(0.3, 120.0), QUIET)
    s.live = GREEN
    _, c = s.frame(QUIET, s.noisy(0.3, 120.0))
    assert c.get("error_pct").samples[0] == 10 and c.reference() == "blue's baseline (10s)"


def test_too_few_figures_say_no_data_and_ask_for_the_history():
    s = Scene(span=60.0)
    for _ in range(3):  # the console started 3 s before the switch
        s.frame(s.noisy(0.3, 120.0), QUIET)
    s.live = GREEN
    for _ in range(10):
        _, c = s.frame(QUIET, s.noisy(5.0, 120.0))
    assert c.score == "no data" and c.get("error_pct").samples == (3, 10)
    assert "no data yet (3+10 of 5+5 figures)" in c.summary()
    want = s.tracker.wants_history()
    assert want is not None and want.colour == BLUE
    assert (want.start, want.end) == (1004.0 - 60.0, 1004.0)  # the span before the switch
    # The source's history fills it: blue's figures over the span, and the verdict follows
    s.tracker.asked(want)
    s.tracker.fill(
        want, {"error_pct": [0.3] * 60, "latency_ms": [120.0] * 60, "rate": [100.0] * 60}
    )
    _, c = s.frame(QUIET, s.noisy(5.0, 120.0))
    assert c.source == "history" and c.get("error_pct").samples == (60, 11)
    assert c.get("error_pct").score == "fail" and s.tracker.wants_history() is None


def test_a_weighted_split_compares_the_two_colours_live():
    s = Scene()
    for _ in range(30):  # blue alone, and worse than both colours will be under the split
        s.frame(s.noisy(2.0, 400.0), QUIET)
    s.weights, s.live = (40, 60), GREEN  # green takes the majority: the window opens, both serve
    for _ in range(15):
        _, c = s.frame(s.noisy(0.3, 120.0), s.noisy(0.3, 120.0))
    assert c.live and c.against == BLUE and c.reference() == "blue live (since the split)"
    err = c.get("error_pct")
    assert err.samples == (15, 15) and 0.2 < err.baseline < 0.4  # blue now, not blue before
    assert c.score in ("pass", "marginal")
    for _ in range(25):  # green goes bad under the split: judged against blue beside it
        _, c = s.frame(s.noisy(0.3, 120.0), s.noisy(8.0, 120.0))
    assert c.get("error_pct").score == "fail" and "against blue's live" in c.failure()


def test_require_fails_the_bake_naming_the_metric():
    s = Scene(window=60.0)
    for _ in range(30):
        s.frame(s.noisy(0.4, 120.0), QUIET, require=True)
    s.live = GREEN
    verdicts = []
    for _ in range(10):
        state, c = s.frame(QUIET, s.noisy(3.1, 120.0), require=True)
        verdicts.append(state.verdict)
    assert verdicts[0] == BakeVerdict.BAKING  # too few figures at first: no verdict either way
    assert state.verdict == BakeVerdict.FAILED  # long before the window's end, no alarm at all
    assert state.reason.startswith("error % ") and "% against blue's 0.4%: worse (p" in state.reason
    # without require the same figures leave the verdict to the alarms
    s2 = Scene(window=60.0)
    for _ in range(30):
        s2.frame(s2.noisy(0.4, 120.0), QUIET)
    s2.live = GREEN
    for _ in range(10):
        state, c = s2.frame(QUIET, s2.noisy(3.1, 120.0))
    assert state.verdict == BakeVerdict.BAKING and c.score == "fail"


def test_require_holds_the_bake_without_enough_figures_and_passes_on_marginal():
    s = Scene(window=10.0)
    for _ in range(2):  # two polls of blue: no baseline, and no history in this scene
        s.frame(s.noisy(0.3, 120.0), QUIET, require=True)
    s.live = GREEN
    for _ in range(15):
        state, _ = s.frame(QUIET, s.noisy(0.3, 120.0), require=True)
    assert state.verdict == BakeVerdict.BAKING  # the window ran out: held, not passed
    assert state.reason.startswith("too few figures to compare green with blue yet (2 of blue's")
    # marginal is no reason to hold or fail: a bake whose comparison is marginal passes
    s = Scene(window=10.0, seed=5)
    for _ in range(30):
        s.frame(figures(0.3, 120.0), QUIET, require=True)
    s.live = GREEN
    for i in range(12):  # a little worse, too little to fail: p99 130-140 against 120 (< 24 ms)
        state, c = s.frame(QUIET, figures(0.3, 130.0 + i % 3 * 5), require=True)
    assert c.get("latency_ms").score == "marginal" and c.score == "marginal"
    assert state.verdict == BakeVerdict.PASSED


def test_stale_frames_add_no_figures():
    s = Scene()
    for _ in range(10):
        s.frame(s.noisy(0.3, 120.0), QUIET)
    for _ in range(10):
        s.frame(figures(9.0, 900.0), QUIET, fresh=False)  # the same old figures, repeated
    s.live = GREEN
    _, c = s.frame(QUIET, s.noisy(0.3, 120.0))
    assert c.get("error_pct").samples[0] == 10 and c.get("error_pct").baseline < 1


# --------------------------------------------------------------------------------------------------
# Through the Monitor, on the simulator (a manual clock, polls by hand)


def _service(clock, scenario: str, **bake: object):
    from console.config import from_mapping
    from console.factory import demo_config
    from console.runtime import build

    data = demo_config(scenario, 7, 60.0, 1.0).model_dump(by_alias=True, exclude_none=True)
    svc = data["service"][0]
    svc["bake"] = {**svc.get("bake", {}), **bake}
    if bake.get("compare") == "require":  # the comparison alone decides: no alarm rule fires
        svc["alarms"] = {k: {**v, "enabled": False} for k, v in svc["alarms"].items()}
    return build(from_mapping(data).service[0], clock=clock)


def _release(clock, runtime, before: int = 40, after: int = 25):
    from console.monitor import Monitor

    monitor = Monitor(runtime)
    for _ in range(before):
        clock.advance(1.0)
        monitor.poll()
    clock.advance(0.5)  # the switch comes after the last poll of blue
    monitor.observe_action(runtime.router.switch(GREEN))
    frames = []
    for _ in range(after):
        clock.advance(1.0)
        frames.append(monitor.poll())
    return monitor, frames


def test_the_simulators_bad_release_fails_the_comparison_and_a_healthy_one_passes(clock):
    rt = _service(clock, "bad-release")
    try:
        _, frames = _release(clock, rt)
    finally:
        rt.close()
    c = frames[-1].comparison
    assert c is not None and c.get("error_pct").score == "fail" and c.score == "fail"
    assert c.reference() == "blue's baseline (40s)"
    data = frames[-1].to_json()["comparison"]
    assert data["against"] == "blue" and data["score"] == "fail" and data["mode"] == "baseline"
    assert data["metrics"]["error_pct"]["samples"] == [40, 25]

    rt = _service(clock, "healthy")
    try:
        _, frames = _release(clock, rt)
    finally:
        rt.close()
    c = frames[-1].comparison
    assert c is not None and c.score in ("pass", "marginal"), c.summary()
    assert frames[-1].to_json()["comparison"]["score"] == c.score


def test_compare_off_shows_nothing(clock):
    rt = _service(clock, "bad-release", compare="off")
    try:
        _, frames = _release(clock, rt, before=10, after=10)
    finally:
        rt.close()
    assert frames[-1].comparison is None and frames[-1].to_json()["comparison"] is None


def test_require_fails_a_bad_release_naming_the_metric_without_any_alarm(clock):
    from console.model import BakeVerdict

    rt = _service(clock, "bad-release", compare="require", baseline_span="30s")
    try:
        _, frames = _release(clock, rt, after=40)
    finally:
        rt.close()
    failed = [f for f in frames if f.bake.verdict == BakeVerdict.FAILED]
    assert failed and not failed[0].alarms.firing
    reason = failed[0].bake.reason
    assert reason.startswith("error % ") and "against blue's 0." in reason and "worse (p" in reason
    assert failed[0].comparison.get("error_pct").samples[0] == 30  # the span: 30 s of blue


def test_a_console_started_at_the_switch_reads_the_baseline_from_the_sources_history(clock):
    rt = _service(clock, "healthy")
    asked = []

    def history(colour, metrics, start, end, step):
        asked.append((colour, tuple(metrics), start, end, step))
        return {"error_pct": [0.2] * 600, "latency_ms": [210.0] * 600, "rate": [100.0] * 600}

    rt.metrics.SUPPORTS_HISTORY = True  # as Prometheus's does
    rt.metrics.history = history
    try:
        switch_wall = clock() + 2.5
        _, frames = _release(clock, rt, before=2, after=8)
    finally:
        rt.close()
    first = frames[0].comparison  # two polls of blue of its own; the history read after it
    assert first.source == "polls" and first.get("error_pct").samples[0] == 2
    c = frames[-1].comparison
    assert c.source == "history" and c.get("error_pct").samples == (600, 8)
    assert c.reference() == "blue's baseline (10 min)"  # the configured span
    ((colour, metrics, start, end, step),) = asked  # once
    assert colour == BLUE and step == 1.0 and "error_pct" in metrics
    assert abs(end - switch_wall) < 0.01 and abs(end - start - 600.0) < 0.01


def test_without_a_sources_history_the_baseline_comes_from_the_recording(clock, tmp_path):
    """A console restarted just before the switch, on a source without history (the simulator):
    blue's figures from the earlier session in the recording are the baseline."""
    from console.monitor import Monitor
    from console.verdicts import VerdictStore
    from tests.support.recordings import record_session

    path = tmp_path / "rec.sqlite"
    record_session(clock, path, {}, scenario="bad-release", polls=60)  # blue live, no switch
    rt = _service(clock, "bad-release")
    monitor = Monitor(rt, None, VerdictStore(path))
    try:
        for _ in range(2):
            clock.advance(1.0)
            monitor.poll()
        clock.advance(0.5)
        monitor.observe_action(rt.router.switch(GREEN))
        for _ in range(25):
            clock.advance(1.0)
            frame = monitor.poll()
    finally:
        monitor.close()
        rt.close()
    c = frame.comparison
    assert c.source == "recording", c
    err = c.get("error_pct")
    assert 55 <= err.samples[0] <= 62 and err.baseline < 1.0  # the earlier session's 60 polls
    assert err.score == "fail"
    from console.views import comparison_lines

    assert "(from the recording)" in comparison_lines(frame)[1]
