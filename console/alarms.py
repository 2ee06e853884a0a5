"""Threshold alarms with sustain and hysteresis, and the bake window. Pure: no I/O, no Textual.

A rule watches one metric on each colour. Per (rule, colour):

* it **fires** at a level (warning / critical) only after the value has stayed past that level's
  threshold for ``for_seconds`` (0 fires on the first sample);
* it **clears** (drops a level) only after the value has stayed on the good side of the threshold
  *by a margin* (``margin`` = 0.2: 20 % below an "above" threshold) for ``clear_for_seconds``;
* a single noisy sample therefore neither fires nor clears it;
* no data (the source failed, no series) holds the current level: a dead Prometheus does not clear
  an alarm. A colour with no traffic (rate 0) is not breaching, so the alarms of a rolled-back colour
  end; their events say so (``AlarmEvent.reason`` = ``NO_TRAFFIC``), not that the colour recovered.

Time is the snapshot's monotonic reading (``Snapshot.mono_time``): a step of the wall clock neither
fires, clears nor lengthens a sustain, and neither passes nor stretches a bake window.

Besides the rules, every snapshot is checked against the routing invariants
(:func:`console.model.violations`): the live colour drained or without a healthy server, weights that
send traffic to a drained colour. Each broken invariant is a CRITICAL alarm (metric ``routing``)
whoever caused it, with no sustain: it fires on the first snapshot whose router state breaks it and
clears on the first one whose state is sound again. A snapshot without a router read holds it. A
broken invariant fails a running bake, whatever colour it is about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from backends.base import COLOURS, Colour
from console.config import AlarmRuleConfig
from console.model import (
    NO_TRAFFIC,
    ROUTING,
    AlarmEvent,
    AlarmReport,
    AlarmState,
    BakeState,
    BakeVerdict,
    Level,
    Snapshot,
    invariant_breaches,
    metric,
)


@dataclass(frozen=True)
class AlarmRule:
    name: str
    metric: str
    direction: str = "above"
    warning: float | None = None
    critical: float | None = None
    for_seconds: float = 5.0
    clear_for_seconds: float = 5.0
    margin: float = 0.2
    colours: tuple[Colour, ...] = COLOURS

    @classmethod
    def from_config(cls, name: str, cfg: AlarmRuleConfig) -> AlarmRule:
        return cls(
            name=name,
            metric=cfg.metric or name,
            direction=cfg.direction,
            warning=cfg.warning,
            critical=cfg.critical,
            for_seconds=cfg.for_seconds,
            clear_for_seconds=cfg.for_seconds
            if cfg.clear_for_seconds is None
            else cfg.clear_for_seconds,
            margin=cfg.margin,
            colours=tuple(cfg.colours),
        )

    def threshold(self, level: Level) -> float | None:
        return {Level.WARNING: self.warning, Level.CRITICAL: self.critical}.get(level)

    def _past(self, value: float, threshold: float | None, margin: float = 0.0) -> bool:
        if threshold is None:
            return False
        if self.direction == "above":
            return value > threshold * (1.0 - margin)
        return value < threshold * (1.0 + margin)

    def level_of(self, value: float, margin: float = 0.0) -> Level:
        """The level ``value`` sits at; with a margin, thresholds move towards the good side."""
        if self._past(value, self.critical, margin):
            return Level.CRITICAL
        if self._past(value, self.warning, margin):
            return Level.WARNING
        return Level.OK

    def describe(self) -> str:
        sign = ">" if self.direction == "above" else "<"
        parts = []
        if self.warning is not None:
            parts.append(f"warning {sign} {self.warning:g}")
        if self.critical is not None:
            parts.append(f"critical {sign} {self.critical:g}")
        return (
            f"{metric(self.metric).label}: {', '.join(parts)}; fires after "
            f"{self.for_seconds:g}s sustained, clears after {self.clear_for_seconds:g}s "
            f"{self.margin:.0%} clear of the threshold"
        )


def rules_from_config(alarms: dict[str, AlarmRuleConfig]) -> list[AlarmRule]:
    return [AlarmRule.from_config(name, cfg) for name, cfg in alarms.items() if cfg.enabled]


@dataclass
class _Track:
    level: Level = Level.OK
    since: float | None = None  # when ``level`` was reached
    breach_since: dict[Level, float] = field(default_factory=dict)  # per level: breaching since
    fall_since: float | None = None  # clear of ``level`` (with the margin) since

    def pending(self) -> Level:
        """The highest level being breached but not yet fired."""
        return max((lv for lv in self.breach_since if lv > self.level), default=Level.OK)


class AlarmEngine:
    """Turns each snapshot into alarm states. Keeps per-(rule, colour) history; no clock of its own:
    time is the snapshot's."""

    def __init__(self, rules: Iterable[AlarmRule]) -> None:
        self.rules = list(rules)
        self._tracks: dict[tuple[str, Colour], _Track] = {}
        self._rule_states: tuple[AlarmState, ...] = ()  # the rules' last step, for stale snapshots
        self._broken: dict[tuple[str, Colour], AlarmState] = {}  # invariants broken, and since when

    def evaluate(self, snap: Snapshot, fresh: bool = True) -> AlarmReport:
        """The alarms after ``snap``. The rules step only on ``fresh`` figures (stale ones would
        advance sustain timers): otherwise their last states carry over, without events. The
        routing invariants are checked on every snapshot that holds a router state."""
        states, events = self._step_rules(snap) if fresh else (list(self._rule_states), [])
        self._rule_states = tuple(states)
        inv_states, inv_events = self._step_invariants(snap)
        return AlarmReport(tuple(inv_states + states), tuple(inv_events + events))

    def _step_invariants(self, snap: Snapshot) -> tuple[list[AlarmState], list[AlarmEvent]]:
        if snap.router is None:  # not read yet: nothing to say; a failed read keeps the last state
            return list(self._broken.values()), []
        events: list[AlarmEvent] = []
        broken: dict[tuple[str, Colour], AlarmState] = {}
        for v in invariant_breaches(snap.router):
            key = (v.rule, v.colour)
            old = self._broken.get(key)
            since = old.since if old is not None else snap.mono_time
            state = AlarmState(
                f"invariant:{v.rule}",
                ROUTING,
                v.colour,
                Level.CRITICAL,
                None,
                None,
                since,
                Level.OK,
                f"CRITICAL {v.message}",
            )
            broken[key] = state
            if old is None:
                events.append(AlarmEvent(snap.time, state, Level.OK))
        for key, old in self._broken.items():
            if key not in broken:
                cleared = AlarmState(
                    old.rule, ROUTING, old.colour, Level.OK, None, None, message=""
                )
                events.append(AlarmEvent(snap.time, cleared, Level.CRITICAL))
        self._broken = broken
        return list(broken.values()), events

    def _step_rules(self, snap: Snapshot) -> tuple[list[AlarmState], list[AlarmEvent]]:
        now = snap.mono_time
        states: list[AlarmState] = []
        events: list[AlarmEvent] = []
        for rule in self.rules:
            for colour in rule.colours:
                track = self._tracks.setdefault((rule.name, colour), _Track())
                before = track.level
                value = self._value(snap, rule.metric, colour)
                if value is not None:
                    self._step(rule, track, value, now)
                quiet = value == 0.0 and snap.colour_metrics(colour).value(rule.metric) is None
                state = self._state(rule, colour, track, value, now, NO_TRAFFIC if quiet else None)
                states.append(state)
                if track.level != before:
                    # A level that drops on "no traffic" ended because the colour lost its traffic
                    # (a switch or rollback away from it): said so, never "cleared".
                    why = NO_TRAFFIC if quiet and track.level < before else ""
                    events.append(AlarmEvent(snap.time, state, before, why))
        return states, events

    @staticmethod
    def _value(snap: Snapshot, metric: str, colour: Colour) -> float | None:
        m = snap.colour_metrics(colour)
        value = m.value(metric)
        if value is None and metric != "rate" and m.value("rate") == 0.0:
            return 0.0  # no traffic: nothing is breaching (and a rolled-back colour clears)
        return value

    @staticmethod
    def _step(rule: AlarmRule, t: _Track, value: float, now: float) -> None:
        for lv in (Level.WARNING, Level.CRITICAL):
            if rule.level_of(value) >= lv:
                t.breach_since.setdefault(lv, now)
            else:
                t.breach_since.pop(lv, None)
        sustained = [
            lv
            for lv, since in t.breach_since.items()
            if lv > t.level and now - since >= rule.for_seconds
        ]
        if sustained:
            level = max(sustained)
            # "for 6s" counts from the start of the breach, not from the moment it became an alarm
            t.level, t.since, t.fall_since = level, t.breach_since[level], None
            return
        if t.level == Level.OK:
            return
        settled = rule.level_of(value, rule.margin)
        if settled >= t.level:
            t.fall_since = None
            return
        if t.fall_since is None:
            t.fall_since = now
        if now - t.fall_since >= rule.clear_for_seconds:
            t.level, t.since, t.fall_since = settled, now, None

    @staticmethod
    def _state(
        rule: AlarmRule,
        colour: Colour,
        t: _Track,
        value: float | None,
        now: float,
        shown: str | None,
    ) -> AlarmState:
        if t.level > Level.OK:
            thr = rule.threshold(t.level)
            msg = alarm_message(
                rule.metric, rule.direction, colour, t.level, value, thr, t.since, now, shown
            )
            return AlarmState(
                rule.name, rule.metric, colour, t.level, value, thr, t.since, t.pending(), msg
            )
        pending = t.pending()
        thr = (
            rule.threshold(pending)
            if pending
            else (rule.warning if rule.warning is not None else rule.critical)
        )
        since = t.breach_since[pending] if pending else None
        msg = alarm_message(
            rule.metric, rule.direction, colour, Level.OK, value, thr, since, now, shown, pending
        )
        return AlarmState(rule.name, rule.metric, colour, Level.OK, value, thr, since, pending, msg)


def alarm_message(
    metric_key: str,
    direction: str,
    colour: Colour,
    level: Level,
    value: float | None,
    threshold: float | None,
    since: float | None,
    now: float,
    shown: str | None = None,
    pending: Level = Level.OK,
) -> str:
    """The banner's and the log's line for a threshold alarm: "CRITICAL green error % 23.1% > 5%
    for 6s", "pending green p99 ... for 3s", or "" (OK, nothing pending). ``since`` and ``now`` are
    monotonic readings; ``shown`` replaces the figure ("no traffic"). Replay rebuilds its lines with
    it from what was recorded, so a replayed banner reads as the live one did."""
    row = metric(metric_key)
    label, unit = row.label, row.unit_suffix
    shown = shown or row.text(value)
    sign = ">" if direction == "above" else "<"
    thr = f"{threshold:g}" if threshold is not None else "?"
    if level > Level.OK:
        lasted = f" for {now - since:.0f}s" if since is not None else ""
        return f"{level.label.upper()} {colour} {label} {shown} {sign} {thr}{unit}{lasted}"
    if pending and since is not None:
        return f"pending {colour} {label} {shown} {sign} {thr}{unit} for {now - since:.0f}s"
    return ""


class BakeTracker:
    """The bake window: starts when the live colour changes, fails on a critical alarm on the
    colour being baked (or on any broken routing invariant), passes when ``duration`` runs out
    without one.

    Every time it is given (``now``, ``last_switch``) is a monotonic reading: a step of the wall
    clock neither passes nor stretches the window. A window resumed from the audit log (a wall
    timestamp) is converted once, by the caller, when it resumes."""

    def __init__(
        self, duration: float, last_switch: float | None = None, switched_to: Colour | None = None
    ) -> None:
        self.duration = duration
        self.last_switch = last_switch
        self._switched_to = switched_to  # from the audit log: resume a window a restart interrupted
        self._live: Colour | None = None
        self._state = BakeState(duration=duration)
        self._fresh = 0  # fresh evaluations since the window started

    def resume(self, last_switch: float, switched_to: Colour) -> None:
        """Before the first update: the audit log's last switch (colour, and time as a monotonic
        reading: the caller converts the record's wall time once)."""
        self.last_switch, self._switched_to = last_switch, switched_to

    def adopt(self, state: BakeState) -> BakeState:
        """End the current window with a verdict decided elsewhere (another console's, read back
        from the recording): from now on it is this window's verdict here too, until the next
        switch. ``state`` carries the window's colour and start (monotonic) and its ``origin``."""
        self._state = state
        if state.started is not None and self.last_switch is None:
            self.last_switch = state.started
        return state

    def update(
        self,
        now: float,
        live: Colour | None,
        alarms: AlarmReport | None,
        fresh: bool = True,
        gate: Callable[[BakeState], tuple[str, str]] | None = None,
    ) -> BakeState:
        """``gate`` (``[service.bake] compare = "require"``: ``console.baseline``) is asked about a
        running window: (a reason to fail it now, a reason it cannot pass yet), "" for neither."""
        if live is not None:
            if self._live is None and live == self._switched_to and self.last_switch is not None:
                if now - self.last_switch < self.duration:
                    self._state = BakeState(
                        BakeVerdict.BAKING, live, self.last_switch, self.duration
                    )
                    self._fresh = 0
            elif self._live is not None and live != self._live:
                self.last_switch = now
                self._state = BakeState(BakeVerdict.BAKING, live, now, self.duration)
                self._fresh = 0
            self._live = live
        st = self._state
        if st.verdict == BakeVerdict.BAKING and st.colour is not None:
            self._fresh += 1 if fresh else 0
            critical = [
                a
                for a in (alarms.firing if alarms else ())
                if a.level == Level.CRITICAL and (a.colour == st.colour or a.invariant)
            ]
            fail, hold = gate(st) if gate is not None else ("", "")  # green against blue
            if critical:
                st = BakeState(
                    BakeVerdict.FAILED, st.colour, st.started, st.duration, critical[0].message
                )
            elif fail:
                st = BakeState(BakeVerdict.FAILED, st.colour, st.started, st.duration, fail)
            elif st.remaining(now) <= 0:
                # A pass needs figures: fresh now, and measured during the window, not a silence.
                if fresh and self._fresh >= MIN_FRESH_TO_PASS and not hold:
                    st = BakeState(BakeVerdict.PASSED, st.colour, st.started, st.duration)
                else:
                    why = hold if fresh and self._fresh >= MIN_FRESH_TO_PASS else NO_DATA
                    st = BakeState(st.verdict, st.colour, st.started, st.duration, why)
            self._state = st
        return st


MIN_FRESH_TO_PASS = 3
NO_DATA = "no fresh metrics: the bake cannot pass until figures arrive"
