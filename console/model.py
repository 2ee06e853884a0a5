"""Pure domain types of the console: the metrics it shows, what one poll saw, what the alarms make of
it, the bake window, and how two reads of a router differ.

Imports nothing from Textual, ``widgets`` or any concrete backend: the headless CLI, the benchmarks and
the tests use these without a screen. Everything is frozen: a worker thread builds a ``Frame`` and
hands it to the UI thread, which only reads it. Checked by ``mypy --strict`` (pyproject.toml).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal, get_args

from backends.base import (
    COLOURS,
    Colour,
    ColourMetrics,
    ColourState,
    RouterState,
    ServerStatus,
)
from console.compare import MIN_SAMPLES, Comparison, Score
from console.fmt import duration

# --------------------------------------------------------------------------------------------------
# The metrics: one table that the panels, the alarm messages, the "why" page, the CLI and the config
# all read.

MetricKey = Literal["rate", "error_pct", "latency_ms", "sessions"]
"""A metric's key: in config (``metric = "error_pct"``), JSON, and ``ColourMetrics.value(key)``."""

Direction = Literal["above", "below"]


@dataclass(frozen=True)
class Metric:
    """How the console names, measures and rounds one metric.

    Attributes:
        key: its key in config, JSON and ``ColourMetrics``.
        label: its name wherever words name it: alarm messages, rule descriptions, the log, the
            "why" page ("error %").
        heading: its name where the unit is drawn beside the figure, so the unit is not said twice:
            a panel's row, a column of ``bluegreen status`` ("errors").
        unit: its unit ("req/s", "%", "ms"), or "".
        decimals: digits after the point of a figure on its own (a panel, ``status``). A figure
            inside a sentence, beside a threshold, gets at most one (``TEXT_DECIMALS``).
        direction: which side of a threshold is worse for it: "above" (errors, latency) or "below"
            (traffic); the default alarm rules fire on that side.
    """

    key: str
    label: str
    heading: str
    unit: str
    decimals: int
    direction: Direction

    def figure(self, value: float | None, missing: str = "—") -> str:
        """The figure alone, rounded to ``decimals``: ``12.34``, ``1,480`` (no unit)."""
        if value is None:
            return missing
        if self.decimals == 0 or abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{self.decimals}f}"

    def text(self, value: float | None, missing: str = "no data") -> str:
        """The figure in a sentence, with its unit: ``23.1%``, ``1480 ms``, ``12.3 req/s``."""
        if value is None:
            return missing
        digits = min(self.decimals, TEXT_DECIMALS)
        return f"{value:.{digits}f}{self.unit_suffix}"

    @property
    def unit_suffix(self) -> str:
        """The unit as it follows a number in text: ``%`` sticks to it, other units get a space."""
        if not self.unit or self.unit == "%":
            return self.unit
        return f" {self.unit}"


TEXT_DECIMALS = 1  # a figure in a sentence ("error % 23.1% > 5%") needs no more

METRICS: tuple[Metric, ...] = (
    Metric("rate", "rate", "rate", "req/s", 1, "below"),
    Metric("error_pct", "error %", "errors", "%", 2, "above"),
    Metric("latency_ms", "p99", "p99", "ms", 0, "above"),
    Metric("sessions", "sessions", "sessions", "", 0, "above"),
)
METRIC_KEYS: tuple[MetricKey, ...] = get_args(MetricKey)
assert tuple(m.key for m in METRICS) == METRIC_KEYS, "METRICS and MetricKey list the same keys"
_BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}


def metric(key: str) -> Metric:
    """The table's row for ``key``; an unknown key gets a plain row (its key as label, 2 decimals)."""
    return _BY_KEY.get(key) or Metric(key, key, key, "", 2, "above")


def metric_label(key: str) -> str:
    """``error_pct`` -> ``error %``."""
    return metric(key).label


def shown_label(key: str, latency_stat: str | None = None) -> str:
    """A metric's label as the figure behind it deserves: ``latency_ms`` from HAProxy's average
    (``latency_stat`` "avg of last 1024") is "avg", never "p99"; every other label as in the table."""
    if key == "latency_ms" and latency_stat and latency_stat != "p99":
        return "avg" if latency_stat.startswith("avg") else latency_stat
    return metric(key).label


def format_value(key: str, value: float | None) -> str:
    """``23.1%``, ``1480 ms``: a metric's value as the banner, the log and the "why" page word it."""
    return metric(key).text(value)


# --------------------------------------------------------------------------------------------------
# Routing: what decides where new requests go, and how two reads of a router differ.

RoutingKey = tuple[Hashable, ...]


def routing_key(state: RouterState) -> RoutingKey:
    """What decides where new requests go: the live colour, each colour's drain flag and weight,
    and the servers drained one by one (DRAIN) in a colour that is not drained as a whole. Server
    health is not in it (DOWN, and MAINT, which health checks and tracked servers also bring): a
    flapping server is health, shown in the panels, not a routing change someone else made (and it
    must not make a rollback refuse)."""
    key: RoutingKey = (
        state.live,
        tuple(
            (c, cs.draining, cs.weight, () if cs.draining else _taken_out(cs))
            for c in COLOURS
            for cs in [state.colour(c)]
        ),
    )
    if state.split:  # a fleet whose instances disagree: which one routes where is routing too
        key += (tuple((i.name, i.live) for i in state.instances if i.error is None),)
    return key


def _taken_out(cs: ColourState) -> tuple[str, ...]:
    return tuple(sorted(s.name for s in cs.servers if s.status is ServerStatus.DRAIN))


def describe_change(old: RouterState, new: RouterState) -> str:
    """A short sentence saying how routing differs between two reads."""
    parts: list[str] = []
    if old.live != new.live:
        parts.append(f"live {old.live or 'none'} → {new.live or 'none'}")
    was = {i.name: i.live for i in old.instances if i.error is None}
    for i in new.instances:  # a fleet: the instances that moved, by name
        if i.error is None and i.name in was and was[i.name] != i.live:
            parts.append(f"{i.name} {was[i.name] or 'none'} → {i.live or 'none'}")
    for c in COLOURS:
        a, b = old.colour(c), new.colour(c)
        if a.weight != b.weight:
            parts.append(f"{c} weight {a.weight} → {b.weight}")
        if a.draining != b.draining:
            parts.append(f"{c} {'drained' if b.draining else 'readied'}")
            continue  # its servers' DRAIN states say the same thing again
        sa = {s.name: s.status for s in a.servers}
        for s in b.servers:
            if s.name in sa and sa[s.name] != s.status:
                parts.append(f"{s.name} {sa[s.name]} → {s.status}")
    return ", ".join(parts) or "routing changed"


# --------------------------------------------------------------------------------------------------
# One poll, and what the alarms and the bake window make of it.


ROUTING = "routing"
"""The metric key of an invariant alarm (``AlarmState.metric``): it watches where traffic goes."""


@dataclass(frozen=True)
class Violation:
    """One broken routing invariant.

    Attributes:
        rule: which invariant: ``live_drained``, ``live_unhealthy``, ``weight_to_drained`` or
            ``instances_split`` (a fleet's instances route to different colours).
        colour: the colour it is about (the live one, or the drained one weights still feed).
        message: the sentence for an operator.
    """

    rule: str
    colour: Colour
    message: str


def invariant_breaches(state: RouterState) -> tuple[Violation, ...]:
    """:func:`violations`, each with the invariant and the colour it is about (for the alarms)."""
    out: list[Violation] = []
    live = state.live
    if live is not None:
        cs = state.colour(live)
        if cs.draining:
            out.append(
                Violation(
                    "live_drained",
                    live,
                    f"{live} is live and drained: the router sends new requests nowhere "
                    f"(expect 503 for every request); ready {live} or switch",
                )
            )
        elif cs.servers and cs.healthy_servers == 0:
            out.append(
                Violation(
                    "live_unhealthy",
                    live,
                    f"{live} is live and has no healthy server: "
                    "the router answers 503 to every request",
                )
            )
    split = state.split
    if split:
        read = [i.live for i in state.instances if i.error is None and i.live is not None]
        most = max(COLOURS, key=lambda c: (read.count(c), c == Colour.GREEN))
        out.append(
            Violation(
                "instances_split",
                most,
                f"{split}: the fleet splits new requests between colours; pick one with "
                "s in the console or `bluegreen switch --to blue|green`",
            )
        )
    for c in COLOURS:
        cs = state.colour(c)
        if c != live and cs.draining and (cs.weight or 0) > 0:
            out.append(
                Violation(
                    "weight_to_drained",
                    c,
                    f"weights send {cs.weight} % of new requests to {c}, which is drained: "
                    f"ready {c} or set its weight to 0",
                )
            )
    return tuple(out)


SERVERS = "servers"
"""The metric key of a server-health alarm (``AlarmState.metric``): servers DOWN behind a colour."""


def servers_breach(state: RouterState, colour: Colour) -> tuple[Level, str] | None:
    """The server-health alarm of ``colour`` in ``state``: (level, message) while a server behind it
    is DOWN, else None. A WARNING; CRITICAL when ``colour`` is live and none of its servers is UP,
    unless the routing invariant ``live_unhealthy`` already says so (one critical per fact: the
    invariant is the critical, this stays the warning naming the servers)."""
    cs = state.colour(colour)
    down = [s.name for s in cs.servers if s.status is ServerStatus.DOWN]
    if not down:
        return None
    up = sum(1 for s in cs.servers if s.status is ServerStatus.UP)
    level = Level.WARNING
    covered = any(
        v.rule == "live_unhealthy" and v.colour == colour for v in invariant_breaches(state)
    )
    if state.live == colour and up == 0 and not covered:
        level = Level.CRITICAL
    where = "live " if state.live == colour else ""
    return level, (
        f"{level.label.upper()} {where}{colour} servers down: {', '.join(down)} "
        f"({up}/{len(cs.servers)} up)"
    )


def violations(state: RouterState) -> tuple[str, ...]:
    """What is wrong with where traffic goes, whoever caused it: each a sentence for an operator.

    The invariants: the live colour is not draining and has a healthy server; a weighted split
    sends no traffic to a drained colour. A router that answers 503 to every request breaks them
    even though no application alarm sees it (the 503s come from the router, not the app).
    """
    return tuple(v.message for v in invariant_breaches(state))


@dataclass(frozen=True)
class Snapshot:
    """One poll of one service: the router's state and each colour's metrics.

    Two clocks (``backends.clock``): ``time`` is the wall clock, for display and records; ``mono``
    and the ``*_time`` fields below are monotonic readings, for ages, so a step of the wall clock
    does not make figures look fresh or stale.

    Attributes:
        service: the service's name.
        time: when the poll finished (wall clock, epoch seconds).
        router: the router's state, or None if it could not be read this time.
        router_error: why the router could not be read (shown in the UI), else None.
        router_time: when the router was last read successfully (this poll or an earlier one;
            monotonic, same base as ``mono``).
        metrics: per colour, the merged figures (metrics source over router-side figures).
        metrics_error: why the metrics source failed this time, else None.
        metrics_time: when metrics were last read successfully (monotonic).
        external_change: a description when the routing changed and the console did not do it.
        mono: the monotonic reading when the poll finished; None (a snapshot built by hand) means
            the same reading as ``time``.
    """

    service: str
    time: float
    router: RouterState | None = None
    router_error: str | None = None
    router_time: float | None = None
    metrics: Mapping[Colour, ColourMetrics] = field(default_factory=dict)
    metrics_error: str | None = None
    metrics_time: float | None = None
    external_change: str | None = None
    mono: float | None = None

    @property
    def mono_time(self) -> float:
        """The monotonic reading of this poll: what ages, sustains and the bake window count from."""
        return self.time if self.mono is None else self.mono

    def age(self, then: float | None) -> float | None:
        """Seconds from the monotonic reading ``then`` to this poll (never negative), or None."""
        return None if then is None else max(0.0, self.mono_time - then)

    def colour_metrics(self, colour: Colour) -> ColourMetrics:
        return self.metrics.get(colour) or ColourMetrics()

    @property
    def live(self) -> Colour | None:
        return self.router.live if self.router else None

    def data_time(self) -> float | None:
        """The older of the two last-success times: how old the figures on screen are. A source
        that never answered makes it None (no data yet: STALE), not "as fresh as the other one"."""
        if self.router_time is None or self.metrics_time is None:
            return None
        return min(self.router_time, self.metrics_time)


class Level(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class AlarmState:
    """One rule on one colour, after this poll.

    Attributes:
        rule: the rule's name, e.g. "error_pct".
        metric: the metric it watches.
        colour: the colour it watches.
        level: the level it is at now (fired levels persist until cleared with the margin).
        value: the latest value (None when there is no data).
        threshold: the threshold of the level it is at (or the warning one when OK).
        since: when the current level started (monotonic seconds, ``Snapshot.mono_time``), or when
            the breach started while pending.
        pending: a breach is under way but has not lasted ``for`` seconds yet (with evidence: the
            last poll's figure is past the threshold, the counts do not prove it yet).
        message: one line for the banner and the log.
        evidence: for a rule decided by evidence, what the counts say ("412 requests, 211 errors:
            99.9 % sure the rate is above 5 %"), else "".
        evidence_source: where those counts came from ("haproxy counters, last 3 polls"), else "".
        label: the metric's label as shown ("avg" for HAProxy's average latency), else "" (the
            table's label).
    """

    rule: str
    metric: str
    colour: Colour
    level: Level
    value: float | None
    threshold: float | None
    since: float | None = None
    pending: Level = Level.OK
    message: str = ""
    # issue 11 (evidence): optional, so every existing constructor stands
    evidence: str = ""
    evidence_source: str = ""
    label: str = ""

    @property
    def firing(self) -> bool:
        return self.level > Level.OK

    @property
    def invariant(self) -> bool:
        """A broken routing invariant (:func:`violations`), not a threshold rule."""
        return self.metric == ROUTING


NO_TRAFFIC = "no traffic"
"""``AlarmEvent.reason`` of an alarm that ended because its colour lost its traffic (a switch or a
rollback away from it): nothing is measured any more, so nothing recovered."""


@dataclass(frozen=True)
class AlarmEvent:
    """A change of level, for the action log and the bell.

    Attributes:
        reason: why a level dropped: "" when the figures came back under the threshold (a
            recovery), ``NO_TRAFFIC`` when the colour has no traffic now (the alarm ended, but nothing
            recovered). Empty for a raised alarm.
    """

    time: float
    alarm: AlarmState
    previous: Level
    reason: str = ""

    @property
    def raised(self) -> bool:
        return self.alarm.level > self.previous

    @property
    def text(self) -> str:
        """The log's and the recording's line for this change, the same wherever it is shown:
        the alarm's message when raised, "cleared: green error % back to ok" on a recovery, "green
        error % alarm ended: green has no traffic now (not recovered)" when the traffic left."""
        a = self.alarm
        if self.raised:
            return a.message or f"{a.rule} raised"
        label = a.label or metric_label(a.metric)
        if self.reason == NO_TRAFFIC:
            return f"{a.colour} {label} alarm ended: {a.colour} has no traffic now (not recovered)"
        return f"cleared: {a.colour} {label} back to {a.level.label}"


@dataclass(frozen=True)
class Counted:
    """The requests and errors of one colour between two polls, and where they were counted: the
    evidence behind error % at poll resolution (issue 11).

    Attributes:
        colour: the colour counted.
        requests: requests (responses) in the interval.
        errors: of those, errors (5xx), or None when no error figure goes with them.
        seconds: the interval's length (monotonic seconds since the previous count).
        source: "haproxy counters", "simulator counters", "prometheus rate x interval".
    """

    colour: Colour
    requests: float
    errors: float | None
    seconds: float
    source: str

    @property
    def rate(self) -> float | None:
        """Requests per second over the interval."""
        return self.requests / self.seconds if self.seconds > 0 else None

    @property
    def error_pct(self) -> float | None:
        """The errors' share of the interval's requests, in percent (None: no request, no figure)."""
        if self.errors is None or self.requests <= 0:
            return None
        return 100.0 * self.errors / self.requests


@dataclass(frozen=True)
class AlarmReport:
    """What the alarm engine made of one snapshot.

    Attributes:
        states: every rule's state on every colour, the invariants' and the servers' that fire.
        events: the changes of level in this step.
        counted: per colour, the requests and errors counted since the previous poll (the
            evidence's fast path, issue 11), when there were any; not recorded.
    """

    states: tuple[AlarmState, ...] = ()
    events: tuple[AlarmEvent, ...] = ()
    counted: tuple[Counted, ...] = ()

    def for_colour(self, colour: Colour) -> tuple[AlarmState, ...]:
        return tuple(a for a in self.states if a.colour == colour)

    def level(self, colour: Colour | None = None, metric: str | None = None) -> Level:
        levels = [
            a.level
            for a in self.states
            if (colour is None or a.colour == colour) and (metric is None or a.metric == metric)
        ]
        return max(levels, default=Level.OK)

    @property
    def firing(self) -> tuple[AlarmState, ...]:
        return tuple(
            sorted((a for a in self.states if a.firing), key=lambda a: (-a.level, a.colour, a.rule))
        )


class BakeVerdict(IntEnum):
    NONE = 0  # no switch seen yet
    BAKING = 1
    PASSED = 2
    FAILED = 3


@dataclass(frozen=True)
class BakeState:
    """The bake window that starts at each switch.

    Attributes:
        verdict: where the window stands.
        colour: the colour being baked (the one switched to).
        started: when the switch happened (monotonic seconds, ``Snapshot.mono_time``: a step of
            the wall clock neither shortens nor lengthens the window).
        duration: the window's length in seconds.
        reason: why it failed (the alarm that fired), else "".
        origin: who decided it, when the verdict was decided by another console on this machine
            and read back from the recording (one verdict per window: see ``console.verdicts``);
            "" when this console decided it (or nothing is decided yet).
    """

    verdict: BakeVerdict = BakeVerdict.NONE
    colour: Colour | None = None
    started: float | None = None
    duration: float = 0.0
    reason: str = ""
    origin: str = ""  # a verdict read from the recording: "alice@host's console at 14:02"

    @property
    def decided(self) -> bool:
        return self.verdict in (BakeVerdict.PASSED, BakeVerdict.FAILED)

    def verdict_text(self) -> str:
        """ "FAILED green: CRITICAL green error % 23.1% > 5% for 6s", "PASSED green", "" """
        if not self.decided or self.colour is None:
            return ""
        return f"{self.verdict.name} {self.colour}" + (f": {self.reason}" if self.reason else "")

    def adopted_text(self, before: BakeState | None) -> str:
        """The log line when this verdict was decided by another console and read back from the
        recording (and ``before``, the last one shown, did not say so yet), else ""."""
        if not self.origin or not self.decided:
            return ""
        if before is not None and before.origin == self.origin and before.verdict == self.verdict:
            return ""
        return f"bake verdict from {self.origin}: {self.verdict_text()}"

    def remaining(self, now: float) -> float:
        """Seconds left at the monotonic reading ``now``."""
        if self.started is None:
            return 0.0
        return max(0.0, self.started + self.duration - now)


# --------------------------------------------------------------------------------------------------
# Green against blue during the bake (console.baseline computes it; the panels, `w` and JSON show it)

JUDGED: tuple[str, ...] = ("error_pct", "latency_ms")
"""The metrics with a verdict: quality. Rate and sessions are traffic, shown without one."""

_ORDER: dict[Score, int] = {"pass": 0, "marginal": 1, "no data": 2, "fail": 3}


@dataclass(frozen=True)
class BakeComparison:
    """The baked colour against its reference, after one frame: what the bake panel, the `w` view
    and ``status --json`` show.

    Attributes:
        colour: the colour being baked.
        against: the colour it is judged against.
        live: True when both colours are compared side by side since a weighted split began; False
            when ``colour`` since the switch is judged against ``against``'s figures before it.
        span: the baseline's span in seconds (the configured ``baseline_span``).
        metrics: one Comparison per metric (METRIC_KEYS order); ``baseline`` and ``current`` are
            the medians of the two samples.
        judged: the metrics whose score counts (error %, p99).
        source: where the baseline came from: "polls" (this console's own), "history" (the metrics
            source's, the console having started too recently), "recording" (earlier sessions'
            polls, for a source without history), or "none yet".
        covered: the seconds the reference's figures actually cover (at most ``span``: a console
            that started 45 s before the switch has a 45 s baseline).
    """

    colour: Colour
    against: Colour
    live: bool
    span: float
    metrics: tuple[Comparison, ...]
    judged: tuple[str, ...] = JUDGED
    source: str = "polls"
    covered: float = 0.0

    @property
    def score(self) -> Score:
        """The worst judged score: fail, then no data, then marginal, then pass. A metric with no
        figure on either side (not measured by this source) does not count."""
        scores = [c.score for c in self.metrics if c.metric in self.judged and any(c.samples)]
        return max(scores, key=_ORDER.__getitem__, default="no data")

    def get(self, key: str) -> Comparison | None:
        return next((c for c in self.metrics if c.metric == key), None)

    def reference(self) -> str:
        """ "blue's baseline (10 min)" or "blue live (since the split)"."""
        if self.live:
            return f"{self.against} live (since the split)"
        return f"{self.against}'s baseline ({span_text(self.covered)})"

    def summary(self) -> str:
        """The bake panel's line: "vs blue's baseline (10m): error % 0.2 → 24.1% FAIL · p99 210 →
        255 ms pass" (judged metrics only; a failing score in capitals)."""
        parts = []
        for key in self.judged:
            c = self.get(key)
            if c is None or not any(c.samples):
                continue
            row = metric(key)
            if c.score == "no data":
                parts.append(
                    f"{row.label} no data yet ({c.samples[0]}+{c.samples[1]} of {MIN_SAMPLES}+"
                    f"{MIN_SAMPLES} figures)"
                )
                continue
            verdict = c.score.upper() if c.score == "fail" else c.score
            before = row.text(c.baseline).removesuffix(row.unit_suffix)
            parts.append(f"{row.label} {before} → {row.text(c.current)} {verdict}")
        return f"vs {self.reference()}: " + (" · ".join(parts) or "nothing measured")

    def failure(self) -> str:
        """The sentence a bake failed by the comparison gets, naming the worst failing metric:
        "error % 24.1% against blue's 0.2%: worse (p<0.0001)"; "" when none fails."""
        failing = [c for c in self.metrics if c.metric in self.judged and c.score == "fail"]
        if not failing:
            return ""
        c = min(failing, key=lambda x: x.p_value)
        row = metric(c.metric)
        where = " live" if self.live else ""
        return (
            f"{row.label} {row.text(c.current)} against {self.against}'s{where} "
            f"{row.text(c.baseline)}: worse ({_p(c.p_value)})"
        )

    def waiting(self) -> str:
        """Why the comparison cannot pass yet (too few figures), or ""."""
        if self.score != "no data":
            return ""
        short = [c for c in self.metrics if c.metric in self.judged and c.score == "no data"]
        if not short:
            return f"nothing to compare {self.colour} with yet"
        c = short[0]
        return (
            f"too few figures to compare {self.colour} with {self.against} yet "
            f"({c.samples[0]} of {self.against}'s, {c.samples[1]} of {self.colour}'s; "
            f"{MIN_SAMPLES} each needed)"
        )

    def table(self) -> list[str]:
        """The `w` view's rows: per metric, the reference's and the current median, the delta, the
        p-value, the figures on each side and the score."""
        out = [
            f"{'metric':<14} {self.against:>9} {self.colour:>9} {'delta':>9} {'p':>9} "
            f"{'figures':>8}  score"
        ]
        for c in self.metrics:
            row = metric(c.metric)
            judged = c.metric in self.judged
            label = (
                f"{row.label} {row.unit}" if row.unit and row.unit not in row.label else row.label
            )
            p = _p(c.p_value) if judged and c.score != "no data" else "—"
            out.append(
                f"{label:<14} {_num(c.baseline):>9} {_num(c.current):>9} {_signed(c.delta):>9} "
                f"{p:>9} {f'{c.samples[0]}/{c.samples[1]}':>8}  "
                f"{c.score if judged else 'not judged (traffic)'}"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """``status --json``'s ``comparison`` object."""
        return {
            "colour": self.colour.value,
            "against": self.against.value,
            "mode": "live" if self.live else "baseline",
            "span": self.span,
            "covered": round(self.covered, 1),
            "source": self.source,
            "score": self.score,
            "metrics": {
                c.metric: {
                    "baseline": finite(c.baseline),
                    "current": finite(c.current),
                    "delta": finite(c.delta),
                    "p_value": finite(c.p_value),
                    "score": c.score if c.metric in self.judged else None,
                    "samples": list(c.samples),
                }
                for c in self.metrics
            },
        }


def span_text(seconds: float) -> str:
    """``10 min``, ``45s``, ``2m30s``."""
    s = int(max(0.0, seconds) + 0.5)
    return f"{s // 60} min" if s >= 60 and s % 60 == 0 else duration(s)


def _num(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _signed(v: float | None) -> str:
    return "—" if v is None else ("+" if v >= 0 else "") + _num(v)


def _p(p: float) -> str:
    return "p<0.0001" if p < 0.0001 else f"p={p:.2g}"


@dataclass(frozen=True)
class WarmWindow:
    """The old colour kept warm after a switch (``keep_warm``): rollback to it is instant while the
    window runs, and draining it asks twice (``console.actions.warm_left``).

    Attributes:
        colour: the colour that was live before the switch.
        started: when the switch happened (monotonic seconds, as ``BakeState.started``).
        duration: ``keep_warm`` in seconds.
    """

    colour: Colour
    started: float
    duration: float

    def remaining(self, now: float) -> float:
        return max(0.0, self.started + self.duration - now)


@dataclass(frozen=True)
class Frame:
    """Everything the UI draws after one poll: the snapshot and what the alarm engine made of it."""

    snapshot: Snapshot
    alarms: AlarmReport
    bake: BakeState
    last_switch: float | None = None  # when the live colour last changed (wall clock, epoch s)
    # The baked colour against its reference (green against blue's baseline: console.baseline);
    # None outside a bake window, with `[service.bake] compare = "off"`, and in replay (not recorded)
    comparison: BakeComparison | None = None
    # The old colour's warm-rollback window (issue 12): None outside it, and when the last change
    # of the live colour was not a switch of ours (a rollback, a change from outside)
    warm: WarmWindow | None = None

    def to_json(self) -> dict[str, Any]:
        """The shape of one line of ``bluegreen status --watch --json``."""
        snap = self.snapshot
        return {
            "time": snap.time,
            "service": snap.service,
            "live": snap.live.value if snap.live else None,
            "router": snap.router.summary() if snap.router else None,
            "router_error": snap.router_error,
            "router_age": _round(snap.age(snap.router_time)),
            "metrics_error": snap.metrics_error,
            "metrics_age": _round(snap.age(snap.metrics_time)),
            "external_change": snap.external_change,
            "metrics": {
                c.value: _metrics_json(snap.colour_metrics(c), self.alarms.counted, c)
                for c in COLOURS
            },
            "alarms": [
                {
                    "rule": a.rule,
                    "colour": a.colour.value,
                    "level": a.level.label,
                    "value": finite(a.value),
                    "threshold": finite(a.threshold),
                    "message": a.message,
                    # issue 11: what the counts say, and where they came from (rules by evidence)
                    "evidence": a.evidence or None,
                    "evidence_source": a.evidence_source or None,
                }
                for a in self.alarms.states
                if a.firing
            ],
            "bake": {
                "verdict": self.bake.verdict.name.lower(),
                "colour": self.bake.colour.value if self.bake.colour else None,
                "remaining": round(self.bake.remaining(snap.mono_time), 1),
                "reason": self.bake.reason,
                "decided_by": self.bake.origin or None,
            },
            "last_switch": self.last_switch,
            "comparison": self.comparison.to_json() if self.comparison else None,
            "warm": {
                "colour": self.warm.colour.value,
                "remaining": round(self.warm.remaining(snap.mono_time), 1),
                "keep_warm": self.warm.duration,
            }
            if self.warm is not None and self.warm.remaining(snap.mono_time) > 0
            else None,
        }


TOP_BUCKET = "above the histogram's top bucket"
"""The note of a +Inf latency in JSON: Prometheus's histogram_quantile answers +Inf when the quantile
lies above the histogram's highest finite bucket."""


def _non_finite_note(key: str, value: float) -> str:
    if key == "latency_ms" and value > 0:
        return TOP_BUCKET
    return f"not a finite number ({'NaN' if math.isnan(value) else f'{value:+}'.replace('inf', 'Inf')})"


def finite(value: float | None) -> float | None:
    """``value``, or None when it is not a finite number (strict JSON has no Infinity or NaN)."""
    return value if value is None or math.isfinite(value) else None


def _metrics_json(
    m: ColourMetrics, counted: tuple[Counted, ...] = (), colour: Colour | None = None
) -> dict[str, Any]:
    """One colour's figures for JSON: a figure that is not finite (Prometheus answers +Inf for a p99
    above the histogram's top bucket) is null, with a note naming why. A note never sits beside a
    figure it would contradict ("measuring" next to 47.3): a figure present drops its note.
    ``sources`` names where each figure came from; ``counted`` is the last poll's counts (the
    alarms' fast path), when there were any."""
    notes = dict(m.notes)
    out: dict[str, Any] = {}
    for key in ("rate", "error_pct", "latency_ms", "sessions"):
        value = m.value(key)
        if value is not None and not math.isfinite(value):
            notes[key] = _non_finite_note(key, value)
            value = None
        elif value is not None:
            notes.pop(key, None)
        out[key] = value
        if key == "latency_ms":
            out["latency_stat"] = m.latency_stat
    out["notes"] = notes
    out["sources"] = {k: v for k, v in m.sources.items() if k in out}
    mine = next((n for n in counted if n.colour == colour), None)
    out["counted"] = (
        None
        if mine is None
        else {
            "requests": mine.requests,
            "errors": mine.errors,
            "seconds": round(mine.seconds, 3),
            "rate": finite(mine.rate),
            "error_pct": finite(mine.error_pct),
            "source": mine.source,
        }
    )
    return out


def json_safe(data: Any) -> Any:
    """``data`` with every non-finite float replaced by None, for ``json.dumps(allow_nan=False)``:
    the last guard of every JSON the console writes (``status --json``, the audit log)."""
    if isinstance(data, float):
        return finite(data)
    if isinstance(data, Mapping):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(v) for v in data]
    return data


def _round(age: float | None) -> float | None:
    return None if age is None else round(age, 3)
