"""Threshold alarms, decided by evidence or by a sustain, and the bake window. Pure: no I/O, no
Textual.

A rule watches one metric on each colour. It decides in one of two ways (``decide`` in config):

**Evidence** (the default for error %, a share of counted requests). Each poll adds the requests
and errors counted since the previous one to a window of the last 60 polls (``console.evidence``):

* it **fires** at a level as soon as the counts make it ``confidence`` (99.9 %) sure that the true
  error rate of some recent stretch of polls is above that level's threshold: 25 errors in 50
  requests fire on the first poll, 6 in 100 do not (6 % could be luck against 5 %), 60 in 1,000 do;
* it **clears** (drops a level) when the whole window makes it as sure that the rate is below the
  threshold lowered by ``margin``;
* an explicitly set ``for`` / ``clear_for`` additionally requires the evidence to have held that long.

Where the counts come from, per colour and poll, freshest first: the **router's counters** (HAProxy's
response counters, the simulator's) read this poll: their delta since the colour's previous read (a
counter that went down means the router restarted: that pair is dropped and counting starts again
from the new value; the first read gives no delta). These step the rules even when the metrics
source failed or was not read this poll: the fast path. Without counters (Prometheus alone, say),
each fresh metrics read adds ``rate x seconds since the previous one`` requests and that times
``error % / 100`` errors: the smoothed share of that interval, never the whole rate window again
(which would count the same requests many times). A read of the metrics source stands in for the
counters only when the router's were not read that poll, and the next counter read then only sets a
new base, so no interval is counted twice.

**Sustain** (latency and everything else):

* it **fires** at a level only after the value has stayed past that level's threshold for
  ``for_seconds`` (0 fires on the first sample) and, where requests are counted, the breach has
  covered at least ``for_requests`` requests (20 for latency: a colour at 1 req/s does not fire
  p99 on 5 requests);
* it **clears** (drops a level) only after the value has stayed on the good side of the threshold
  *by a margin* (``margin`` = 0.2: 20 % below an "above" threshold) for ``clear_for_seconds``;
* a single noisy sample therefore neither fires nor clears it.

Both: no data (the source failed, no series) holds the current level: a dead Prometheus does not
clear an alarm. A colour with no traffic (rate 0) is not breaching: its error % and latency alarms
end at once, and their events say so (``AlarmEvent.reason`` = ``NO_TRAFFIC``), not that the colour
recovered; "no traffic" never holds nor raises one.

Time is the snapshot's monotonic reading (``Snapshot.mono_time``): a step of the wall clock neither
fires, clears nor lengthens a sustain, and neither passes nor stretches a bake window.

Besides the rules, every snapshot is checked against the routing invariants
(:func:`console.model.violations`): the live colour drained or without a healthy server, weights that
send traffic to a drained colour. Each broken invariant is a CRITICAL alarm (metric ``routing``)
whoever caused it, with no sustain: it fires on the first snapshot whose router state breaks it and
clears on the first one whose state is sound again. A snapshot without a router read holds it. A
broken invariant fails a running bake, whatever colour it is about. A colour with a server DOWN is a
WARNING alarm (metric ``servers``, :func:`console.model.servers_breach`) the same way: CRITICAL when
the live colour has no server UP and no invariant already says so.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from backends.base import COLOURS, Colour, ColourMetrics
from console.config import AlarmRuleConfig
from console.evidence import DEFAULT_CONFIDENCE, DEFAULT_LOOKS, Judgement, RatioEvidence
from console.model import (
    NO_TRAFFIC,
    ROUTING,
    SERVERS,
    AlarmEvent,
    AlarmReport,
    AlarmState,
    BakeState,
    BakeVerdict,
    Counted,
    Level,
    Snapshot,
    invariant_breaches,
    metric,
    servers_breach,
    shown_label,
)

EVIDENCE, SUSTAIN = "evidence", "sustain"
QUIET_METRICS = ("error_pct", "latency_ms")  # figures of served requests: none without traffic


@dataclass(frozen=True)
class AlarmRule:
    """One rule. Built from config by :meth:`from_config`; a rule built by hand decides by sustain
    unless told ``decide="evidence"``."""

    name: str
    metric: str
    direction: str = "above"
    warning: float | None = None
    critical: float | None = None
    for_seconds: float = 5.0
    clear_for_seconds: float = 5.0
    margin: float = 0.2
    colours: tuple[Colour, ...] = COLOURS
    decide: str = SUSTAIN
    confidence: float = DEFAULT_CONFIDENCE
    for_requests: int = 0

    @classmethod
    def from_config(cls, name: str, cfg: AlarmRuleConfig) -> AlarmRule:
        fired, cleared = cfg.sustain_seconds(name)
        return cls(
            name=name,
            metric=cfg.metric or name,
            direction=cfg.direction,
            warning=cfg.warning,
            critical=cfg.critical,
            for_seconds=fired,
            clear_for_seconds=cleared,
            margin=cfg.margin,
            colours=tuple(cfg.colours),
            decide=cfg.decides_by(name),
            confidence=cfg.confidence,
            for_requests=cfg.requests_needed(name),
        )

    @property
    def by_evidence(self) -> bool:
        return self.decide == EVIDENCE

    def threshold(self, level: Level) -> float | None:
        return {Level.WARNING: self.warning, Level.CRITICAL: self.critical}.get(level)

    def levels(self) -> list[Level]:
        """The levels this rule has a threshold for, lowest first."""
        return [lv for lv in (Level.WARNING, Level.CRITICAL) if self.threshold(lv) is not None]

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

    def describe(self, label: str | None = None) -> str:
        """The rule in a sentence; ``label`` names the metric as measured ("avg" for HAProxy's
        average latency), else the table's label."""
        sign = ">" if self.direction == "above" else "<"
        parts = []
        if self.warning is not None:
            parts.append(f"warning {sign} {self.warning:g}")
        if self.critical is not None:
            parts.append(f"critical {sign} {self.critical:g}")
        head = f"{label or metric(self.metric).label}: {', '.join(parts)}"
        if self.by_evidence:
            sure = f"{self.confidence * 100:.3g} %"
            held = f" for {self.for_seconds:g}s" if self.for_seconds else ""
            unheld = f" for {self.clear_for_seconds:g}s" if self.clear_for_seconds else ""
            return (
                f"{head}; decided by evidence: fires when the requests counted make it {sure} "
                f"sure the rate is past a threshold{held}, clears when the last "
                f"{DEFAULT_LOOKS} polls make it {sure} sure it is {self.margin:.0%} clear of "
                f"it{unheld}"
            )
        counted = f" and {self.for_requests} requests" if self.for_requests else ""
        return (
            f"{head}; fires after {self.for_seconds:g}s sustained{counted}, clears after "
            f"{self.clear_for_seconds:g}s {self.margin:.0%} clear of the threshold"
        )


def rules_from_config(alarms: dict[str, AlarmRuleConfig]) -> list[AlarmRule]:
    return [AlarmRule.from_config(name, cfg) for name, cfg in alarms.items() if cfg.enabled]


@dataclass
class _Track:
    level: Level = Level.OK
    since: float | None = None  # when ``level`` was reached
    breach_since: dict[Level, float] = field(default_factory=dict)  # per level: breaching since
    breach_requests: dict[Level, float | None] = field(default_factory=dict)  # ... and requests
    sure_since: dict[Level, float] = field(default_factory=dict)  # evidence: sure since
    fall_since: float | None = None  # clear of ``level`` (with the margin) since
    evidence: RatioEvidence = field(default_factory=RatioEvidence)
    sources: deque[str] = field(default_factory=lambda: deque(maxlen=DEFAULT_LOOKS))
    last: float | None = None  # evidence: the last poll's error %, at poll resolution

    def pending(self) -> Level:
        """The highest level being breached but not yet fired."""
        return max((lv for lv in self.breach_since if lv > self.level), default=Level.OK)

    def end(self) -> None:
        """Back to OK at once, all history dropped (the colour lost its traffic)."""
        self.level, self.since, self.fall_since = Level.OK, None, None
        self.breach_since.clear()
        self.breach_requests.clear()
        self.sure_since.clear()
        self.evidence.clear()
        self.sources.clear()
        self.last = None


@dataclass
class _Counter:
    """A colour's counter base: the router's last counters read, the last time counts were taken."""

    totals: tuple[float, float] | None = None  # (requests, errors) at the last router read
    at: float | None = None  # when counts were last taken (either source)
    reset: bool = False  # the last read found the counters lower: the router restarted


class AlarmEngine:
    """Turns each snapshot into alarm states. Keeps per-(rule, colour) history; no clock of its own:
    time is the snapshot's."""

    def __init__(self, rules: Iterable[AlarmRule]) -> None:
        self.rules = list(rules)
        self._tracks: dict[tuple[str, Colour], _Track] = {}
        self._rule_states: dict[tuple[str, Colour], AlarmState] = {}  # for stale snapshots
        self._broken: dict[tuple[str, Colour], AlarmState] = {}  # invariants broken, and since when
        self._servers: dict[Colour, AlarmState] = {}  # server-health alarms firing
        self._counters: dict[Colour, _Counter] = {}
        self._counted: list[Counted] = []  # the last step's counts

    def evaluate(
        self, snap: Snapshot, fresh: bool = True, counters_fresh: bool | None = None
    ) -> AlarmReport:
        """The alarms after ``snap``. Sustain rules step only on ``fresh`` figures (stale ones would
        advance sustain timers): otherwise their last states carry over, without events. Evidence
        rules step on ``fresh`` figures or on ``counters_fresh`` ones: the router's counters read
        this poll (None: as ``fresh``). The routing invariants and the servers' health are checked
        on every snapshot that holds a router state."""
        counters_fresh = fresh if counters_fresh is None else counters_fresh
        states, events = self._step_rules(snap, fresh, counters_fresh)
        inv_states, inv_events = self._step_invariants(snap)
        srv_states, srv_events = self._step_servers(snap)
        return AlarmReport(
            tuple(inv_states + srv_states + states),
            tuple(inv_events + srv_events + events),
            tuple(self._counted),
        )

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

    def _step_servers(self, snap: Snapshot) -> tuple[list[AlarmState], list[AlarmEvent]]:
        """A colour with a server DOWN: a WARNING (CRITICAL: the live colour has none UP and no
        invariant says so already), no sustain, cleared when they are back; held without a read."""
        if snap.router is None:
            return list(self._servers.values()), []
        events: list[AlarmEvent] = []
        now: dict[Colour, AlarmState] = {}
        for c in COLOURS:
            breach = servers_breach(snap.router, c)
            old = self._servers.get(c)
            if breach is None:
                if old is not None:
                    cleared = AlarmState(SERVERS, SERVERS, c, Level.OK, None, None, message="")
                    events.append(AlarmEvent(snap.time, cleared, old.level))
                continue
            level, message = breach
            same = old is not None and old.level == level
            since = old.since if same and old is not None else snap.mono_time
            state = AlarmState(SERVERS, SERVERS, c, level, None, None, since, Level.OK, message)
            now[c] = state
            if old is None or old.level != level:
                events.append(AlarmEvent(snap.time, state, old.level if old else Level.OK))
        self._servers = now
        return list(now.values()), events

    # ---------------------------------------------------------------------------------------------
    # Counting: the requests and errors behind each colour's figures since the previous poll.

    def _count(
        self, snap: Snapshot, colour: Colour, fresh: bool, counters_fresh: bool
    ) -> Counted | None:
        now = snap.mono_time
        base = self._counters.setdefault(colour, _Counter())
        routed = snap.router.colour(colour).metrics if snap.router is not None else None
        if counters_fresh and routed is not None and routed.requests_total is not None:
            totals = (routed.requests_total, routed.errors_total or 0.0)
            before, base_at, base.totals, base.at = base.totals, base.at, totals, now
            base.reset = before is not None and (totals[0] < before[0] or totals[1] < before[1])
            if before is None or base.reset:
                return None  # the first read, or the router restarted: a new base, no delta
            return Counted(
                colour,
                totals[0] - before[0],
                totals[1] - before[1],
                now - (base_at if base_at is not None else now),
                _counter_source(routed),
            )
        if not fresh:
            return None
        m = snap.colour_metrics(colour)
        rate = m.value("rate")
        if rate is None:
            return None
        last, base.at = base.at, now
        base.totals = None  # counted from the rate: the next counter read is a new base
        if last is None or now <= last:
            return None
        requests = rate * (now - last)
        err = m.value("error_pct")
        errors = requests * err / 100.0 if err is not None else (0.0 if rate == 0 else None)
        src = m.sources.get("rate") or m.sources.get("error_pct") or "metrics source"
        return Counted(colour, requests, errors, now - last, f"{src} rate x interval")

    def _step_rules(
        self, snap: Snapshot, fresh: bool, counters_fresh: bool
    ) -> tuple[list[AlarmState], list[AlarmEvent]]:
        now = snap.mono_time
        states: list[AlarmState] = []
        events: list[AlarmEvent] = []
        counted = {c: self._count(snap, c, fresh, counters_fresh) for c in COLOURS}
        self._counted = [n for n in counted.values() if n is not None]
        for rule in self.rules:
            steps = fresh or (rule.by_evidence and counters_fresh)
            for colour in rule.colours:
                key = (rule.name, colour)
                if not steps:  # stale figures: the last state carries over (none yet: none)
                    old = self._rule_states.get(key)
                    if old is not None:
                        states.append(old)
                    continue
                track = self._tracks.setdefault(key, _Track())
                before = track.level
                m = snap.colour_metrics(colour)
                count = counted.get(colour)
                quiet = quiet_colour(m, rule.metric, count)
                value = None if quiet else self._value(snap, rule.metric, colour)
                if quiet:
                    track.end()  # no traffic: nothing is breaching, and nothing is held
                elif rule.by_evidence:
                    self._step_evidence(rule, track, count, now)
                elif value is not None:
                    self._step(rule, track, value, now, count)
                state = self._state(rule, colour, track, value, now, m, quiet)
                states.append(state)
                self._rule_states[key] = state
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
    def _step_evidence(rule: AlarmRule, t: _Track, counted: Counted | None, now: float) -> None:
        if counted is not None and counted.errors is not None:
            t.evidence.push(counted.requests, counted.errors)
            t.sources.append(counted.source)
            if counted.requests >= 1:
                t.last = 100.0 * counted.errors / counted.requests
        for lv in rule.levels():
            thr = rule.threshold(lv)
            assert thr is not None
            sure = t.evidence.judge(thr, rule.confidence).above
            if sure:
                t.sure_since.setdefault(lv, now)
            else:
                t.sure_since.pop(lv, None)
            if sure or (t.last is not None and t.last > thr):
                t.breach_since.setdefault(lv, now)
            else:
                t.breach_since.pop(lv, None)
        held = [
            lv
            for lv, since in t.sure_since.items()
            if lv > t.level and now - since >= rule.for_seconds
        ]
        if held:
            level = max(held)
            since = min(t.breach_since.get(level, now), t.sure_since[level])
            t.level, t.since, t.fall_since = level, since, None
            return
        if t.level == Level.OK:
            return
        thr = rule.threshold(t.level)
        assert thr is not None
        if not t.evidence.judge(thr, rule.confidence, rule.margin).below:
            t.fall_since = None
            return
        if t.fall_since is None:
            t.fall_since = now
        if now - t.fall_since >= rule.clear_for_seconds:
            settled = Level.OK
            for lv in rule.levels():
                lower = rule.threshold(lv)
                assert lower is not None
                if lv < t.level and not t.evidence.judge(lower, rule.confidence, rule.margin).below:
                    settled = lv
            t.level, t.since, t.fall_since = settled, now, None

    @staticmethod
    def _step(
        rule: AlarmRule, t: _Track, value: float, now: float, counted: Counted | None = None
    ) -> None:
        for lv in (Level.WARNING, Level.CRITICAL):
            if rule.level_of(value) >= lv:
                if lv not in t.breach_since:
                    t.breach_since[lv] = now
                    t.breach_requests[lv] = None  # counted from the next poll's requests on
                elif counted is not None:
                    t.breach_requests[lv] = (t.breach_requests.get(lv) or 0.0) + counted.requests
            else:
                t.breach_since.pop(lv, None)
                t.breach_requests.pop(lv, None)
        sustained = [
            lv
            for lv, since in t.breach_since.items()
            if lv > t.level
            and now - since >= rule.for_seconds
            and _enough(rule, t.breach_requests.get(lv))
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
        m: ColourMetrics,
        quiet: bool,
    ) -> AlarmState:
        shown = NO_TRAFFIC if quiet else None
        label = shown_label(rule.metric, m.latency_stat)
        evidence = source = ""
        pending = t.pending()
        if rule.by_evidence:
            j = _judgement(rule, t)
            if j is not None:
                evidence, source = j.sentence(), _evidence_source(t, j)
            # Firing or pending, the figure is the one the counts give at poll resolution: the last
            # poll's (the panel's windowed figure may lag behind it); the stretch the verdict rests
            # on is in the evidence sentence.
            if (t.level > Level.OK or pending) and not quiet:
                if t.last is not None:
                    value = t.last
                elif j is not None and j.above and j.rate is not None:
                    value = j.rate
        if t.level > Level.OK:
            thr = rule.threshold(t.level)
            since = t.since
        else:
            thr = (
                rule.threshold(pending)
                if pending
                else (rule.warning if rule.warning is not None else rule.critical)
            )
            since = t.breach_since[pending] if pending else None
        msg = alarm_message(
            rule.metric,
            rule.direction,
            colour,
            t.level,
            value,
            thr,
            since,
            now,
            shown,
            Level.OK if t.level > Level.OK else pending,
            m.latency_stat,
        )
        return AlarmState(
            rule.name,
            rule.metric,
            colour,
            t.level,
            value,
            thr,
            since,
            pending,
            msg,
            evidence,
            source,
            label if label != metric(rule.metric).label else "",
        )


def quiet_colour(m: ColourMetrics, key: str, counted: Counted | None = None) -> bool:
    """No traffic on the colour: its error % and latency mean nothing (HAProxy's average of the last
    1024 requests stays put after the traffic left). Rate 0, and no request counted this poll."""
    if key not in QUIET_METRICS or m.value("rate") != 0.0:
        return False
    return counted is None or counted.requests <= 0


def _enough(rule: AlarmRule, requests: float | None) -> bool:
    """A breach covered ``for_requests`` requests (or nothing counted requests during it)."""
    if not rule.for_requests or requests is None:
        return True
    return requests >= rule.for_requests


def _counter_source(m: ColourMetrics) -> str:
    return f"{m.sources.get('requests_total') or 'router'} counters"


def _judgement(rule: AlarmRule, t: _Track) -> Judgement | None:
    """What the evidence says at the level that matters: the one firing (judged for clearing), the
    one pending, else the lowest threshold."""
    if not len(t.evidence):
        return None
    if t.level > Level.OK:
        level, margin = t.level, rule.margin
        higher = [lv for lv in t.sure_since if lv > t.level]
        if higher:
            level, margin = max(higher), 0.0
    else:
        level, margin = t.pending() or rule.levels()[0], 0.0
    thr = rule.threshold(level)
    if thr is None:
        return None
    j = t.evidence.judge(thr, rule.confidence, margin)
    if t.level > Level.OK and level == t.level and not j.below:
        sure = t.evidence.judge(thr, rule.confidence)
        if sure.above:
            return sure
    return j


def _evidence_source(t: _Track, j: Judgement) -> str:
    """ "haproxy counters, last 3 polls": the source(s) of the polls the judgement rests on."""
    polls = list(t.sources)[-j.polls :] if j.polls else []
    names = list(dict.fromkeys(reversed(polls)))
    if not names:
        return ""
    return f"{' and '.join(names)}, last {len(polls)} poll{'s' if len(polls) != 1 else ''}"


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
    latency_stat: str | None = None,
) -> str:
    """The banner's and the log's line for a threshold alarm: "CRITICAL green error % 23.1% > 5%
    for 6s", "pending green p99 ... for 3s", or "" (OK, nothing pending). ``since`` and ``now`` are
    monotonic readings; ``shown`` replaces the figure ("no traffic"); ``latency_stat`` names the
    latency figure ("avg of last 1024" makes the label "avg", never "p99"). Replay rebuilds its lines
    with it from what was recorded, so a replayed banner reads as the live one did."""
    row = metric(metric_key)
    label, unit = shown_label(metric_key, latency_stat), row.unit_suffix
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
