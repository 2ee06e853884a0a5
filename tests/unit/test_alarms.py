"""Alarms fire only on a sustained breach and clear only with a margin; the bake window follows."""

from __future__ import annotations

from backends.base import Colour, ColourMetrics
from console.alarms import AlarmEngine, AlarmRule, BakeTracker
from console.model import NO_TRAFFIC, BakeVerdict, Level, Snapshot

RULE = AlarmRule(
    "error_pct",
    "error_pct",
    warning=2.0,
    critical=5.0,
    for_seconds=5,
    clear_for_seconds=5,
    margin=0.2,
)


def snap(t: float, green_err: float | None, green_rate: float = 100.0) -> Snapshot:
    return Snapshot(
        service="shop",
        time=t,
        metrics={
            Colour.BLUE: ColourMetrics(rate=100.0, error_pct=0.1),
            Colour.GREEN: ColourMetrics(rate=green_rate, error_pct=green_err),
        },
    )


def run(engine: AlarmEngine, values: list[float | None], start: float = 0.0):
    reports = []
    for i, v in enumerate(values):
        reports.append(engine.evaluate(snap(start + i, v)))
    return reports


def green(report):
    return next(a for a in report.states if a.colour == Colour.GREEN and a.rule == "error_pct")


def test_a_single_noisy_sample_does_not_fire():
    reports = run(AlarmEngine([RULE]), [0.5, 30.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert all(green(r).level == Level.OK for r in reports)
    assert green(reports[1]).pending == Level.CRITICAL


def test_fires_only_after_the_breach_is_sustained():
    reports = run(AlarmEngine([RULE]), [8.0] * 7)
    levels = [green(r).level for r in reports]
    assert levels[:5] == [Level.OK] * 5  # t = 0..4: pending
    assert levels[5] == Level.CRITICAL  # t = 5: sustained 5 s
    assert [e.alarm.level for e in reports[5].events] == [Level.CRITICAL]
    assert "CRITICAL green error % 8.0% > 5%" in green(reports[5]).message


def test_warning_fires_before_critical_when_only_the_warning_is_sustained():
    reports = run(AlarmEngine([RULE]), [3.0] * 6 + [9.0] * 6)
    assert green(reports[5]).level == Level.WARNING
    assert green(reports[9]).level == Level.WARNING  # critical breach only 4 s old
    assert green(reports[11]).level == Level.CRITICAL


def test_a_breach_interrupted_by_one_good_sample_starts_over():
    reports = run(AlarmEngine([RULE]), [8, 8, 8, 8, 0.1, 8, 8, 8, 8, 8, 8])
    assert green(reports[8]).level == Level.OK
    assert green(reports[10]).level == Level.CRITICAL


def test_clearing_needs_the_margin_and_the_sustain():
    engine = AlarmEngine([RULE])
    run(engine, [9.0] * 6)  # critical at t=5
    # 4.5 is under 5 but not 20 % under it: stays critical however long it lasts
    reports = run(engine, [4.5] * 10, start=6)
    assert all(green(r).level == Level.CRITICAL for r in reports)
    # 3.0 is clear of critical with the margin (< 4.0) but still past warning: drops to warning after 5 s
    reports = run(engine, [3.0] * 6, start=16)
    assert green(reports[4]).level == Level.CRITICAL
    assert green(reports[5]).level == Level.WARNING
    reports = run(engine, [0.2] * 6, start=22)
    assert green(reports[5]).level == Level.OK
    assert reports[5].events and not reports[5].events[0].raised


def test_a_single_good_sample_does_not_clear():
    engine = AlarmEngine([RULE])
    run(engine, [9.0] * 6)
    reports = run(engine, [0.1, 9.0, 0.1, 9.0, 0.1, 9.0, 0.1, 9.0], start=6)
    assert all(green(r).level == Level.CRITICAL for r in reports)


def test_no_data_holds_the_level_but_no_traffic_clears():
    engine = AlarmEngine([RULE])
    run(engine, [9.0] * 6)
    held = run(engine, [None] * 10, start=6)  # Prometheus had no series: keep the alarm
    assert all(green(r).level == Level.CRITICAL for r in held)
    quiet = [engine.evaluate(snap(16 + i, None, green_rate=0.0)) for i in range(6)]
    assert green(quiet[-1]).level == Level.OK


def test_below_rules_fire_when_the_value_drops():
    rule = AlarmRule(
        "rate_floor", "rate", direction="below", critical=10.0, for_seconds=2, clear_for_seconds=2
    )
    engine = AlarmEngine([rule])
    reports = [
        engine.evaluate(snap(i, 0.1, green_rate=r)) for i, r in enumerate([50, 5, 5, 5, 50, 50, 50])
    ]
    levels = [next(a for a in r.states if a.colour == Colour.GREEN).level for r in reports]
    assert levels == [
        Level.OK,
        Level.OK,
        Level.OK,
        Level.CRITICAL,
        Level.CRITICAL,
        Level.CRITICAL,
        Level.OK,
    ]


def test_zero_sustain_fires_on_the_first_sample():
    rule = AlarmRule("error_pct", "error_pct", critical=5.0, for_seconds=0, clear_for_seconds=0)
    report = AlarmEngine([rule]).evaluate(snap(0, 50.0))
    assert green(report).level == Level.CRITICAL


def test_bake_starts_at_a_switch_and_passes_when_the_window_runs_out():
    bake = BakeTracker(duration=30)
    assert bake.update(0, Colour.BLUE, None).verdict == BakeVerdict.NONE
    st = bake.update(10, Colour.GREEN, None)
    assert (st.verdict, st.colour, st.started) == (BakeVerdict.BAKING, Colour.GREEN, 10)
    assert st.remaining(25) == 15
    assert bake.update(39, Colour.GREEN, None).verdict == BakeVerdict.BAKING
    assert bake.update(40, Colour.GREEN, None).verdict == BakeVerdict.PASSED
    assert bake.last_switch == 10


def test_bake_fails_on_a_critical_alarm_on_the_baked_colour_only():
    engine = AlarmEngine([RULE])
    bake = BakeTracker(duration=300)
    bake.update(0, Colour.BLUE, None)
    bake.update(1, Colour.GREEN, None)
    verdicts = []
    for i in range(8):
        report = engine.evaluate(snap(2 + i, 9.0))
        verdicts.append(bake.update(2 + i, Colour.GREEN, report))
    assert verdicts[4].verdict == BakeVerdict.BAKING
    assert verdicts[5].verdict == BakeVerdict.FAILED
    assert "green error %" in verdicts[5].reason
    # a new switch starts a new window
    assert bake.update(20, Colour.BLUE, None).verdict == BakeVerdict.BAKING


def test_a_restarted_console_resumes_the_bake_window_of_the_last_recorded_switch():
    bake = BakeTracker(duration=300, last_switch=100.0, switched_to=Colour.GREEN)
    st = bake.update(160.0, Colour.GREEN, None)  # the console comes back a minute later
    assert (st.verdict, st.colour, st.started) == (BakeVerdict.BAKING, Colour.GREEN, 100.0)
    assert st.remaining(160.0) == 240.0
    # the router no longer shows the switched-to colour: someone switched back meanwhile
    other = BakeTracker(duration=300, last_switch=100.0, switched_to=Colour.GREEN)
    assert other.update(160.0, Colour.BLUE, None).verdict == BakeVerdict.NONE
    # long after the window: nothing to resume
    late = BakeTracker(duration=300, last_switch=100.0, switched_to=Colour.GREEN)
    assert late.update(1000.0, Colour.GREEN, None).verdict == BakeVerdict.NONE


def test_router_figures_fill_only_the_gaps_the_metrics_source_did_not_explain():
    router = ColourMetrics(rate=50.0, latency_ms=6.0, sessions=3.0, latency_stat="avg of last 1024")
    prom = ColourMetrics(
        rate=0.0, error_pct=None, latency_ms=None, notes={"latency_ms": "no traffic"}
    )
    merged = prom.merged_over(router)
    assert merged.latency_ms is None and merged.notes["latency_ms"] == "no traffic"
    assert (
        merged.sessions == 3.0
    )  # Prometheus had no opinion on sessions: the router's figure stands
    assert merged.rate == 0.0
    silent = ColourMetrics(rate=10.0).merged_over(router)
    assert (silent.latency_ms, silent.latency_stat) == (6.0, "avg of last 1024")


def test_a_note_never_sits_beside_a_figure_it_contradicts():
    """HAProxy says "measuring" before its second poll; Prometheus already has 47.3 %: the merged
    figures (and ``status --json``) show 47.3 without the note."""
    router = ColourMetrics(rate=50.0, notes={"error_pct": "measuring"}, requests_total=10.0)
    prom = ColourMetrics(rate=48.0, error_pct=47.3, latency_ms=120.0)
    merged = prom.merged_over(router)
    assert merged.error_pct == 47.3 and "error_pct" not in merged.notes
    assert merged.requests_total == 10.0  # the router's counters come along
    quiet = ColourMetrics(rate=0.0, notes={"error_pct": "no traffic"}).merged_over(router)
    assert quiet.error_pct is None and quiet.notes["error_pct"] == "no traffic"


def test_the_bake_does_not_pass_on_silence():
    bake = BakeTracker(duration=30)
    bake.update(0, Colour.BLUE, None)
    bake.update(1, Colour.GREEN, None)
    for t in range(2, 40):  # the metrics source is down for the whole window
        st = bake.update(t, Colour.GREEN, None, fresh=False)
    assert st.verdict == BakeVerdict.BAKING and "no fresh metrics" in st.reason
    for t in range(40, 43):  # figures come back: three fresh polls, no alarm
        st = bake.update(t, Colour.GREEN, None, fresh=True)
    assert st.verdict == BakeVerdict.PASSED


def test_sustains_count_monotonic_time_not_a_step_of_the_wall_clock():
    engine = AlarmEngine([RULE])

    def at(wall: float, mono: float, err: float) -> Snapshot:
        s = snap(wall, err)
        return Snapshot(service=s.service, time=wall, metrics=s.metrics, mono=mono)

    assert green(engine.evaluate(at(0, 0, 9.0))).level == Level.OK  # the breach starts
    # the wall clock jumps an hour ahead one second later: the breach has lasted 1 s, not 3601 s
    assert green(engine.evaluate(at(3601, 1, 9.0))).level == Level.OK
    assert green(engine.evaluate(at(3604, 4, 9.0))).level == Level.OK
    fired = green(engine.evaluate(at(3605, 5, 9.0)))
    assert fired.level == Level.CRITICAL and fired.message.endswith("for 5s")
    # and back an hour: clearing needs 5 s clear of the margin, on the monotonic clock
    assert green(engine.evaluate(at(6, 6, 0.1))).level == Level.CRITICAL
    assert green(engine.evaluate(at(3700, 10, 0.1))).level == Level.CRITICAL
    assert green(engine.evaluate(at(3701, 11, 0.1))).level == Level.OK


def _routing(live: Colour, drained: tuple[Colour, ...] = ()):
    from backends.base import ColourState, RouterState, ServerState, ServerStatus

    return RouterState(
        live,
        {
            c: ColourState(
                c,
                servers=(
                    ServerState(f"{c}-1", ServerStatus.DRAIN if c in drained else ServerStatus.UP),
                ),
                draining=c in drained,
            )
            for c in (Colour.BLUE, Colour.GREEN)
        },
    )


def test_a_broken_routing_invariant_is_critical_at_once_and_clears_when_fixed():
    engine = AlarmEngine([RULE])
    ok = engine.evaluate(Snapshot("shop", 0, router=_routing(Colour.GREEN)))
    assert not ok.firing and not ok.events
    # one poll: no sustain, whatever the rules' for_seconds
    broken = engine.evaluate(Snapshot("shop", 1, router=_routing(Colour.GREEN, (Colour.GREEN,))))
    (alarm,) = broken.firing
    assert (alarm.rule, alarm.metric, alarm.colour) == (
        "invariant:live_drained",
        "routing",
        Colour.GREEN,
    )
    assert alarm.level == Level.CRITICAL and alarm.invariant
    assert (
        alarm.message.startswith("CRITICAL green is live and drained: ") and "503" in alarm.message
    )
    assert [(e.raised, e.alarm.rule) for e in broken.events] == [(True, "invariant:live_drained")]
    # stale figures (rules hold) do not hide it; a snapshot without a router read holds it
    held = engine.evaluate(
        Snapshot("shop", 2, router=_routing(Colour.GREEN, (Colour.GREEN,))), fresh=False
    )
    assert [a.rule for a in held.firing] == ["invariant:live_drained"] and not held.events
    assert held.firing[0].since == 1
    assert [a.rule for a in engine.evaluate(Snapshot("shop", 3)).firing] == [alarm.rule]
    fixed = engine.evaluate(Snapshot("shop", 4, router=_routing(Colour.GREEN)))
    assert not fixed.firing
    assert [(e.raised, e.alarm.rule) for e in fixed.events] == [(False, "invariant:live_drained")]


def test_a_broken_routing_invariant_fails_a_running_bake_whatever_its_colour():
    engine = AlarmEngine([RULE])
    bake = BakeTracker(duration=60)
    bake.update(0, Colour.BLUE, None)
    bake.update(1, Colour.GREEN, None)
    from backends.base import ColourState, RouterState, ServerState, ServerStatus

    up, drain = ServerStatus.UP, ServerStatus.DRAIN
    weighted = RouterState(
        Colour.GREEN,
        {
            Colour.GREEN: ColourState(
                Colour.GREEN, servers=(ServerState("green-1", up),), weight=70
            ),
            Colour.BLUE: ColourState(
                Colour.BLUE, servers=(ServerState("blue-1", drain),), draining=True, weight=30
            ),
        },
    )
    report = engine.evaluate(Snapshot("shop", 2, router=weighted))
    (alarm,) = report.firing
    assert alarm.colour == Colour.BLUE  # about the drained colour, not the one being baked
    st = bake.update(2, Colour.GREEN, report)
    assert st.verdict == BakeVerdict.FAILED and st.reason == alarm.message


def test_an_alarm_that_loses_its_traffic_ends_without_being_called_cleared():
    """A rollback away from green takes its traffic: the alarm ends, but green did not recover."""
    engine = AlarmEngine([RULE])
    run(engine, [9.0] * 7)  # critical on green
    events = []
    for i in range(7, 15):  # no traffic on green: no error % at all, rate 0
        events += engine.evaluate(snap(i, None, green_rate=0.0)).events
    assert [e.alarm.level for e in events] == [Level.OK]
    assert events[0].reason == NO_TRAFFIC
    assert events[0].text == "green error % alarm ended: green has no traffic now (not recovered)"
    # A real recovery still says cleared
    engine = AlarmEngine([RULE])
    run(engine, [9.0] * 7)
    events = [e for r in run(engine, [0.5] * 8, start=7) for e in r.events]
    assert [(e.reason, e.text) for e in events] == [("", "cleared: green error % back to ok")]
