"""Frame -> the plain view data each widget draws. Pure functions (plus a small history buffer owned by
the UI thread), so what the screen says is testable without a screen."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backends.base import COLOURS, Colour
from console.fmt import COLOUR_NOTICES, duration, format_age
from console.model import (
    METRICS,
    AlarmState,
    BakeVerdict,
    Frame,
    Level,
    format_value,
    shown_label,
    span_text,
)
from widgets.alarm_banner import BannerItem
from widgets.bake_timer import BakeView
from widgets.colour_panel import MetricView, PanelView
from widgets.status_header import HeaderView

HISTORY = 300  # samples kept per colour and metric (5 minutes at the default 1 s poll)


class History:
    """The last HISTORY values of every metric of every colour. Fed one Frame at a time on the UI
    thread; the workers never see it."""

    def __init__(self, size: int = HISTORY) -> None:
        self._series: dict[tuple[Colour, str], deque[float | None]] = {
            (c, m.key): deque(maxlen=size) for c in COLOURS for m in METRICS
        }
        self.size = size
        self._times: deque[float] = deque(maxlen=size)  # each sample's wall time (the chart's axis)

    def push(self, frame: Frame) -> None:
        self._times.append(frame.snapshot.time)
        for c in COLOURS:
            m = frame.snapshot.colour_metrics(c)
            for row in METRICS:
                self._series[(c, row.key)].append(m.value(row.key))

    def series(self, colour: Colour, key: str) -> tuple[float | None, ...]:
        return tuple(self._series[(colour, key)])

    def times(self) -> tuple[float, ...]:
        """The wall time of each sample, oldest first (the same length as every series)."""
        return tuple(self._times)


def since_frame(frame: Frame, now: float) -> float:
    """Wall seconds from ``frame``'s poll to ``now``: what a countdown or an age drawn between polls
    adds to what the frame measured (monotonically). A step of the wall clock can skew it until the
    next frame only."""
    return max(0.0, now - frame.snapshot.time)


def panel_view(
    frame: Frame,
    colour: Colour,
    history: History,
    now: float,
    stale_after: float,
    scale_floors: Mapping[str, float] | None = None,
) -> PanelView:
    snap = frame.snapshot
    router = snap.router
    cs = router.colour(colour) if router else None
    m = snap.colour_metrics(colour)
    age = snap.age(snap.data_time())
    if age is not None:
        age += since_frame(frame, now)
    rows = []
    for row in METRICS:
        key, label = row.key, row.heading
        level = frame.alarms.level(colour, key)
        pending = any(
            a.pending > a.level for a in frame.alarms.for_colour(colour) if a.metric == key
        )
        if key == "latency_ms" and m.latency_stat != "p99":
            label = m.latency_stat  # e.g. "avg of last 1024": never dressed up as p99
        rows.append(
            MetricView(
                key=key,
                label=label,
                value=row.figure(m.value(key)),
                unit=row.unit,
                level=level.label,
                pending=pending,
                history=history.series(colour, key),
                note=m.notes.get(key, ""),
                scale_floor=(scale_floors or {}).get(key),
            )
        )
    if cs is None:
        badge = "unknown"
    elif cs.draining:
        badge = "draining"
    elif router and router.live == colour:
        badge = "live"
    else:
        badge = "idle"
    errors = [
        f"{k.replace('_', ' ')}: {cs.detail[k]}" for k in COLOUR_NOTICES if cs and cs.detail.get(k)
    ]
    if snap.router_error:
        errors.append(f"router: {snap.router_error}")
    if snap.metrics_error:
        errors.append(f"metrics: {snap.metrics_error}")
    servers = cs.servers if cs else ()
    down = [s.name for s in servers if not s.healthy]
    return PanelView(
        colour=colour.value,
        version=(cs.version or "") if cs else "",
        badge=badge,
        weight=cs.weight if cs else None,
        servers_up=cs.healthy_servers if cs else 0,
        servers_total=len(servers),
        servers_text=_servers_text(servers, down),
        age_text=format_age(age),
        stale=age is None or age > stale_after,
        level=frame.alarms.level(colour).label,
        metrics=tuple(rows),
        error="; ".join(errors),
        warm_text=warm_text(frame, colour, now),
    )


def warm_text(frame: Frame, colour: Colour, now: float) -> str:
    """The old colour's warm-rollback countdown after a switch, on its panel's status row: "warm
    01:40" (rollback to it is instant until then; draining it asks twice). "" outside the window.
    Short on purpose: the row also holds the servers and the data's age at 80 columns."""
    warm = frame.warm
    if warm is None or warm.colour != colour:
        return ""
    left = warm.remaining(frame.snapshot.mono_time) - since_frame(frame, now)
    if left <= 0:
        return ""
    return f"warm {int(left) // 60:02d}:{int(left) % 60:02d}"


def _servers_text(servers: tuple, down: list[str]) -> str:
    draining = sum(1 for s in servers if s.status.value == "DRAIN")
    parts = []
    if draining:
        parts.append(f"{draining}/{len(servers)} draining")
    if down:
        parts.append("down: " + ", ".join(down))
    return ", ".join(parts)


def header_view(
    frame: Frame | None, service: str, router_kind: str, now: float, read_only: bool, notice: str
) -> HeaderView:
    live = frame.snapshot.live if frame else None
    since = ""
    if frame and frame.last_switch is not None:
        since = duration(now - frame.last_switch)
    router = frame.snapshot.router if frame else None
    instances = tuple(
        (i.name, "?" if i.error is not None else (i.live.value if i.live else ""))
        for i in (router.instances if router is not None else ())
    )
    return HeaderView(
        service=service,
        router_kind=router_kind,
        instances=instances,
        live=live.value if live else "",
        since_switch=since,
        clock=datetime.fromtimestamp(now).strftime("%H:%M:%S"),
        read_only=read_only,
        notice=notice,
    )


def banner_items(frame: Frame | None) -> tuple[BannerItem, ...]:
    if frame is None:
        return ()
    return tuple(
        BannerItem("critical" if a.level == Level.CRITICAL else "warning", a.message)
        for a in frame.alarms.firing
    )


def bake_view(frame: Frame | None, now: float) -> BakeView:
    if frame is None or frame.bake.verdict == BakeVerdict.NONE:
        return BakeView()
    b = frame.bake
    return BakeView(
        verdict=b.verdict.name.lower(),
        colour=b.colour.value if b.colour else "",
        remaining_s=max(0.0, b.remaining(frame.snapshot.mono_time) - since_frame(frame, now))
        if b.verdict == BakeVerdict.BAKING
        else 0.0,
        duration_s=b.duration,
        reason=b.reason,
        comparison=frame.comparison.summary() if frame.comparison else "",
        comparison_score=frame.comparison.score if frame.comparison else "",
    )


def clock_text(now: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now).strftime("%H:%M:%S")


IND = "\u00a0" * 4  # non-breaking: Textual would drop plain leading spaces when it wraps


def _measured_label(frame: Frame | None, key: str) -> str | None:
    """The metric's label as measured on every colour: "avg" when the latency figures are HAProxy's
    average, never dressed up as p99; None (the table's label) otherwise."""
    if frame is None:
        return None
    labels = {shown_label(key, frame.snapshot.colour_metrics(c).latency_stat) for c in COLOURS}
    return labels.pop() if len(labels) == 1 else None


def _evidence_lines(frame: Frame | None, a: AlarmState) -> list[str]:
    """For the "why" page, under one rule's state on one colour (issue 11): what the counts say and
    where they came from, and for a ratio the figure of the last poll's counts (the fast path)
    beside the panel's figure, each with its source."""
    if frame is None:
        return []
    out = []
    if a.evidence:
        out.append(
            f"evidence: {a.evidence}" + (f" ({a.evidence_source})" if a.evidence_source else "")
        )
    m = frame.snapshot.colour_metrics(a.colour)
    panel = f"{format_value(a.metric, m.value(a.metric))}"
    named = m.sources.get(a.metric)
    if a.metric in ("error_pct", "rate"):
        counted = next((n for n in frame.alarms.counted if n.colour == a.colour), None)
        if counted is not None and counted.requests > 0:
            err = counted.error_pct
            rate = counted.rate
            parts = [f"{err:.1f}% of {counted.requests:,.0f} requests" if err is not None else ""]
            if rate is not None:
                parts.append(f"{rate:.1f} req/s")
            figures = ", ".join(p for p in parts if p)
            out.append(
                f"this poll: {figures} ({counted.source}, {counted.seconds:.1f} s); "
                f"panel: {panel}" + (f" ({named})" if named else "")
            )
            return out
    if named and m.value(a.metric) is not None:
        stat = f", {m.latency_stat}" if a.metric == "latency_ms" else ""
        out.append(f"panel: {panel} ({named}{stat})")
    return out


def why_for(runtime: Any, frame: Frame | None, rules: list, history: History) -> str:
    """``why_text`` of one service (its ``ServiceRuntime``): the queries its metrics source sends,
    or the router's own figures when it has none."""
    if runtime.metrics is not None:
        queries = dict(runtime.metrics.describe())
        source = f"{runtime.metrics.kind} metrics"
    else:
        queries, source = {}, f"the {runtime.router.kind} router's own figures"
    return why_text(frame, rules, queries, source, history)


def ten_more(router: Any, towards: Colour) -> dict[Colour, int]:
    """``[`` / ``]``: the weights with 10 points more to ``towards`` (at most 100), from
    ``router`` (a ``RouterState``)."""
    new = min(100, (router.colour(towards).weight or 0) + 10)
    return {towards: new, towards.other: 100 - new}


def why_text(
    frame: Frame | None,
    rules: list,  # list[AlarmRule]
    queries: Mapping[str, str],
    source: str,
    history: History,
    samples: int = 8,
) -> str:
    """The "why did it fire" page: per rule, its state per colour, the rule and thresholds, the exact
    query (or method) behind the metric, and the last samples of each colour. Markup-free text."""
    if not rules:
        return "No alarm rules are configured for this service."
    states = {(a.rule, a.colour): a for a in frame.alarms.states} if frame else {}

    def worst(rule: Any) -> int:
        return -max(
            (states[(rule.name, c)].level for c in COLOURS if (rule.name, c) in states), default=0
        )

    out: list[str] = []
    for rule in sorted(rules, key=worst):
        out.append(f"▌ {rule.name}: {rule.describe(_measured_label(frame, rule.metric))}")
        for c in COLOURS:
            a = states.get((rule.name, c))
            if a is None:
                continue
            line = a.message if a.message else f"{c.value} ok"
            out.append(f"{IND}{line}")
            out.extend(f"{IND * 2}{text}" for text in _evidence_lines(frame, a))
            recent = history.series(c, rule.metric)[-samples:]
            if recent and all(v is None for v in recent):
                shown = "no data (or no traffic)"
            else:
                shown = " ".join(
                    format_value(rule.metric, v).replace(" ", "") if v is not None else "·"
                    for v in recent
                )
            out.append(f"{IND * 2}last {len(recent)} polls: {shown or 'none yet'}")
        query = queries.get(rule.metric)
        out.append(f"{IND}source: {source}")
        if query:
            out.append(f"{IND}query:  {query}")
        out.append("")
    out += comparison_lines(frame)  # the bake: green against blue, while a window is judged
    return "\n".join(out).rstrip()


_SOURCES = {
    "history": "the metrics source's history",
    "recording": "the recording",
    "polls": "this console",
    "none yet": "nowhere yet",
}


def comparison_lines(frame: Frame | None) -> list[str]:
    """The `w` view's bake part: the baked colour against its reference, metric by metric (the two
    medians, the delta, the p-value, the score and the figures behind each side), after the alarms."""
    c = frame.comparison if frame else None
    if c is None:
        return []
    how = (
        f"{c.against}'s figures beside {c.colour}'s, since the weighted split began"
        if c.live
        else f"{c.against}'s figures over the {span_text(c.covered)} before the switch "
        f"(from {_SOURCES.get(c.source, c.source)})"
    )
    out = [f"▌ bake: {c.colour} against {c.reference()}: {c.score}", f"{IND}{how}"]
    out += [f"{IND}{row}" for row in c.table()]
    out.append(
        f"{IND}medians of the figures of each poll; a one-sided Mann-Whitney U test asks whether "
        f"{c.colour}'s are worse (more errors, slower)"
    )
    out.append("")
    return out
