"""``bluegreen report``: the timeline of a recorded deployment, for an incident review.

What was switched when and by whom (the recording's actions, each referencing its audit-log record,
plus the actions of other operators found in the same audit log for the same service and router),
every alarm with its figures (value, threshold, colour, raised, cleared, how long), the bake
verdicts with their reasons, outside changes and backend errors, and a chart per metric (both
colours, threshold lines, action markers). Times are shown in UTC and in the reader's local zone.

Two formats from one model (:class:`ReportData`, built by :func:`build`):

* HTML: one self-contained file (inline SVG and CSS; no script, no network), readable on screen and
  printed;
* Markdown: text tables; the charts are SVG files written beside it (``OUT-stem.METRIC.svg``) and
  linked. Written to stdout (no ``-o``), it has no charts and says so.

Secrets never appear: a recording holds no backend options (see ``console.recorder``), and any
``user:password@`` in a URL of a recorded text is masked here as well.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from html import escape
from pathlib import Path
from typing import Any

from console import svgchart
from console.audit import AuditLog
from console.fmt import duration
from console.model import METRIC_KEYS, metric
from console.recorder import RecordingError
from console.recording import Bake, Event, RecordedService, Recording

__all__ = ["ReportData", "build", "parse_time", "render_html", "render_markdown", "run"]

CHART_BUCKETS = 360  # columns per chart: about 2 px each at the chart's width
SERIES_COLOURS = {"blue": "#1f6fd1", "green": "#1a9e4a"}
ACTION_VERBS = ("switch", "rollback", "drain", "ready", "set_weights", "weights", "sync")


# ------------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Row:
    """One line of the timeline."""

    t: float
    kind: str  # "switch", "alarm raised", "bake failed", "outside change", "backend error", ...
    what: str
    colour: str | None = None
    who: str = ""
    source: str = "recording"  # or "audit log": an action this recording did not see


@dataclass(frozen=True)
class Alarm:
    """One alarm, from the poll that raised it to the one that cleared it."""

    rule: str
    metric: str
    colour: str
    level: str  # the highest level it reached
    raised: float | None  # None: raised before the range
    cleared: float | None  # None: still raised when the range (or the recording) ends
    value: float | None  # the figure that raised it (to its highest level)
    peak: float | None  # the worst figure while it was raised
    threshold: float | None  # of its highest level
    direction: str
    until: float  # cleared, else the end of the range

    @property
    def lasted(self) -> float | None:
        return None if self.raised is None else self.until - self.raised


@dataclass
class ReportData:
    path: Path
    service: RecordedService
    start: float
    end: float
    tz: tzinfo | None
    polls: int
    rows: list[Row]
    alarms: list[Alarm]
    bakes: list[Bake]
    charts: dict[str, svgchart.Line]
    sessions: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # metrics not measured, audit log read or not
    generated: float = 0.0


# ------------------------------------------------------------------------------------ helpers

_URL_USER = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def redact(text: Any) -> str:
    """``text`` with any ``user:password@`` of a URL masked."""
    return _URL_USER.sub(r"\1***@", str(text))


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def local(t: float, tz: tzinfo | None, with_date: bool = False) -> str:
    """``01:00:11 CET``; with the date when it differs from the UTC date (or ``with_date``)."""
    d = datetime.fromtimestamp(t, timezone.utc)
    loc = d.astimezone(tz)
    fmt = "%H:%M:%S %Z"
    if with_date or loc.date() != d.date():
        fmt = "%Y-%m-%d " + fmt
    return loc.strftime(fmt)


def zone_name(t: float, tz: tzinfo | None) -> str:
    loc = datetime.fromtimestamp(t, timezone.utc).astimezone(tz)
    off = loc.strftime("%z")
    return f"{loc.tzname()}, UTC{off[:3]}:{off[3:]}"


def parse_time(text: str, tz: tzinfo | None, day_of: float) -> float:
    """A time given on the command line, as epoch seconds: ISO 8601 (``2026-01-01T10:15:00Z``; no
    zone: the local one), ``HH:MM[:SS]`` (local, on the day of ``day_of``), or epoch seconds."""
    s = text.strip()
    try:
        if re.fullmatch(r"\d{9,}(\.\d+)?", s):
            return float(s)
        m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", s)
        if m:
            day = datetime.fromtimestamp(day_of, timezone.utc).astimezone(tz)
            at = day.replace(hour=int(m[1]), minute=int(m[2]), second=int(m[3] or 0), microsecond=0)
            return at.timestamp()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        d = datetime.fromisoformat(s)
        if d.tzinfo is None:
            d = d.replace(tzinfo=tz) if tz is not None else d.astimezone()
        return d.timestamp()
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; give 2026-01-01T10:15:00Z (ISO 8601; without a zone: local "
            "time), 10:15 (local, on the recording's last day) or epoch seconds"
        ) from None


def _value_text(metric_key: str, value: float | None) -> str:
    return metric(metric_key).text(value, "no data")


def _threshold_text(metric_key: str, direction: str, value: float | None) -> str:
    if value is None:
        return "—"
    sign = ">" if direction == "above" else "<"
    return f"{sign} {value:g}{metric(metric_key).unit_suffix}"


# ------------------------------------------------------------------------------------ building


def build(
    rec: Recording,
    service: str | None = None,
    start: float | None = None,
    end: float | None = None,
    tz: tzinfo | None = None,
    *,
    buckets: int = CHART_BUCKETS,
    now: float | None = None,
) -> ReportData:
    """Everything the report shows of ``service`` in [start, end] (default: all it recorded)."""
    svc = rec.service(service)
    warnings: list[str] = []
    notes: list[str] = []
    if svc.first is None or svc.last is None:
        span_start = start if start is not None else 0.0
        span_end = end if end is not None else span_start
    else:
        span_start = start if start is not None else svc.first
        span_end = end if end is not None else svc.last
    polls = len(rec.times(svc, span_start, span_end)) if svc.first is not None else 0
    if polls == 0:
        covers = (
            f"the recording covers {utc(svc.first)} – {utc(svc.last)} UTC"
            if svc.first is not None and svc.last is not None
            else "the recording holds no poll of this service"
        )
        warnings.append(f"no polls between {utc(span_start)} and {utc(span_end)} UTC; {covers}")
    settings = svc.info.settings or {}
    directions = {
        str(r.get("name")): str(r.get("direction", "above")) for r in settings.get("rules", [])
    }

    events = rec.events(svc, None, span_end)
    in_range = [e for e in events if e.t >= span_start]
    sessions = rec.sessions()
    rows, seen = _rows(in_range, directions)
    audit_rows, audit_notes, by_id = _audit_rows(rec, svc, sessions, span_start, span_end, seen)
    notes.extend(audit_notes)
    rows = _with_audit(rows, by_id)
    rows.extend(audit_rows)
    rows.sort(key=_order(rows))  # stable: the recording's own order within a millisecond
    alarms = _alarms(rec, svc, events, span_start, span_end, directions)
    bakes = [
        b
        for b in rec.bakes(svc)
        if b.started <= span_end and (b.decided or b.started + b.duration) >= span_start
    ]
    charts: dict[str, svgchart.Line] = {}
    if polls:
        markers = _markers(rows)
        for key in METRIC_KEYS:
            series = rec.series(svc, key, span_start, span_end, min(buckets, max(polls, 2)))
            if not any(b.high is not None for bs in series.values() for b in bs):
                notes.append(f"{metric(key).label}: not measured in this range (no chart)")
                continue
            charts[key] = _chart(key, series, settings, markers, span_start, span_end, tz)
    if rec.damage:
        warnings.insert(0, f"{redact(rec.damage)}: this report shows what could be read")
    run_sessions = [
        s
        for s in sessions
        if s["started"] <= span_end and (s["ended"] is None or s["ended"] >= span_start)
    ]
    return ReportData(
        rec.path,
        svc,
        span_start,
        span_end,
        tz,
        polls,
        rows,
        alarms,
        bakes,
        charts,
        run_sessions,
        warnings,
        notes,
        now if now is not None else datetime.now(timezone.utc).timestamp(),
    )


def _rows(events: Sequence[Event], directions: dict[str, str]) -> tuple[list[Row], set[str]]:
    rows: list[Row] = []
    seen: set[str] = set()
    for e in events:
        d = e.data or {}
        msg = redact(e.message)
        if e.kind == "action":
            if d.get("audit_id"):
                seen.add(str(d["audit_id"]))
            verb = str(d.get("action") or "action")
            result = str(d.get("result") or e.level or "")
            what = msg if result in ("ok", "") else f"{result.upper()}: {msg}"
            if d.get("audit_id"):
                what += f" (audit {d['audit_id']})"
            rows.append(Row(e.t, verb, what, e.colour, str(d.get("operator") or "")))
        elif e.kind == "alarm":
            label = metric(e.metric or "").label
            if d.get("reason"):  # ended with the colour's traffic: not a recovery
                rows.append(Row(e.t, "alarm ended", msg, e.colour))
            elif d.get("change") == "cleared" and (e.level or "ok") == "ok":
                what = (
                    f"{e.colour} {label} cleared at {_value_text(e.metric or '', e.value)} "
                    f"(was {d.get('previous', '?')})"
                )
                rows.append(Row(e.t, "alarm cleared", what, e.colour))
            else:
                kind = "alarm raised" if d.get("change") != "cleared" else "alarm lowered"
                rows.append(Row(e.t, kind, msg, e.colour))
        elif e.kind == "bake":
            kind = f"bake {e.level}" if e.level in ("passed", "failed") else "bake started"
            rows.append(Row(e.t, kind, msg, e.colour))
        elif e.kind == "external":
            rows.append(Row(e.t, "outside change", msg, e.colour))
        elif e.kind == "error":
            kind = "backend recovered" if d.get("recovered") else "backend error"
            rows.append(Row(e.t, kind, msg))
        elif e.kind == "router":
            rows.append(Row(e.t, "router", msg))
        else:
            rows.append(Row(e.t, e.kind, msg, e.colour))
    return rows, seen


OPENS_BAKE = ("switch", "rollback")
BAKE_LEAD = 5.0  # seconds: a bake window starts at the read-back, before the action's outcome row


def _order(rows: Sequence[Row]) -> Callable[[Row], tuple[float, int]]:
    """The timeline's sort key: time, except that a "bake started" row sorts right after the switch
    (or rollback) to its colour that opened it. The window starts when the action read the router
    back; the action's row is stamped when its outcome was recorded, after the settle, so by time
    alone the bake would start a second before its switch."""
    opened: dict[int, float] = {}
    acts = [r for r in rows if r.kind in OPENS_BAKE and r.colour]
    for r in rows:
        if r.kind != "bake started":
            continue
        later = [a.t for a in acts if a.colour == r.colour and 0.0 <= a.t - r.t <= BAKE_LEAD]
        if later:
            opened[id(r)] = min(later)

    def key(r: Row) -> tuple[float, int]:
        return (opened[id(r)], 1) if id(r) in opened else (r.t, 0)

    return key


def _audit_rows(
    rec: Recording,
    svc: RecordedService,
    sessions: list[dict[str, Any]],
    start: float,
    end: float,
    seen: set[str],
) -> tuple[list[Row], list[str], dict[str, dict[str, Any]]]:
    """Actions on this service and router in the audit log(s) the sessions name that the recording
    does not reference (other operators, a headless ``bluegreen switch``), and every entry by id."""
    rows: list[Row] = []
    notes: list[str] = []
    by_id: dict[str, dict[str, Any]] = {}
    paths = list(dict.fromkeys(s["audit_log"] for s in sessions if s.get("audit_log")))
    if not paths:
        notes.append("the recording names no audit log: only this console's actions are shown")
    for p in paths:
        log = AuditLog(p)
        try:
            with open(p, "rb"):
                pass
        except OSError as exc:
            notes.append(
                f"audit log {p} not readable ({exc.strerror or exc}): actions of other operators "
                "are not shown"
            )
            continue
        found = 0
        for entry in log.entries(svc.name):
            if entry.get("id"):
                by_id[str(entry["id"])] = entry
            if not AuditLog._same_router(entry, svc.info.router_identity):
                continue
            if entry.get("record") not in ("outcome", "reconciled"):
                continue
            try:
                t = float(entry.get("epoch"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            if not start <= t <= end or str(entry.get("id")) in seen:
                continue
            found += 1
            rows.append(_audit_row(t, entry))
        notes.append(
            f"audit log {p} read: {found} action(s) on this service and router that this "
            "recording did not see" + (" (marked “audit log only”)" if found else "")
        )
        notes.extend(redact(n) for n in log.notes)
    return rows, notes, by_id


def _who(entry: dict[str, Any]) -> str:
    user, host = entry.get("user"), entry.get("host")
    return f"{user}@{host}" if user and host else str(user or entry.get("operator") or "?")


def _live_change(entry: dict[str, Any]) -> str:
    before, after = entry.get("before") or {}, entry.get("after") or {}
    if isinstance(before, dict) and isinstance(after, dict) and (before or after):
        b, a = before.get("live"), after.get("live")
        if b != a:
            return f"live {b or 'none'} → {a or 'none'}"
        return f"live stays {a or 'none'}"
    return ""


def _audit_row(t: float, entry: dict[str, Any]) -> Row:
    verb = str(entry.get("action") or "action")
    result = str(entry.get("result") or "?")
    target = entry.get("target")
    parts = [f"{verb}{f' {target}' if target else ''}: {result}"]
    if entry.get("record") == "reconciled":
        parts.append("(reconciled: an intent with no outcome)")
    change = _live_change(entry)
    if change:
        parts.append(f"({change})")
    if entry.get("error"):
        parts.append(f"— {entry['error']}")
    parts.append(f"(audit {entry.get('id')})")
    return Row(
        t,
        verb,
        redact(" ".join(parts)),
        str(target) if target else None,
        _who(entry),
        "audit log",
    )


def _with_audit(rows: list[Row], by_id: dict[str, dict[str, Any]]) -> list[Row]:
    """This console's actions, with who (user@host) and the live colour's move from the audit log."""
    out = []
    for r in rows:
        m = re.search(r"\(audit ([0-9a-f]+)\)$", r.what) if r.kind in ACTION_VERBS else None
        entry = by_id.get(m[1]) if m else None
        if entry:
            change = _live_change(entry)
            what = r.what if not change or change.split()[-1] in r.what else f"{r.what} ({change})"
            r = Row(r.t, r.kind, what, r.colour, _who(entry), r.source)
        out.append(r)
    return out


def _alarms(
    rec: Recording,
    svc: RecordedService,
    events: Sequence[Event],
    start: float,
    end: float,
    directions: dict[str, str],
) -> list[Alarm]:
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    order = {"ok": 0, "warning": 1, "critical": 2}
    for e in events:
        if e.kind != "alarm" or not e.colour:
            continue
        rule = str((e.data or {}).get("rule") or e.metric)
        key = (rule, e.colour)
        level = e.level or "ok"
        a = open_.get(key)
        if level == "ok":
            if a is None:
                continue  # cleared, never seen raised: before the recording began
            a["cleared"] = e.t
            done.append(open_.pop(key))
            continue
        if a is None:
            a = open_[key] = {
                "rule": rule,
                "metric": e.metric or rule,
                "colour": e.colour,
                "level": level,
                "raised": e.t,
                "cleared": None,
                "value": e.value,
                "threshold": e.threshold,
            }
        elif order.get(level, 0) > order.get(a["level"], 0):
            a.update(level=level, value=e.value, threshold=e.threshold)
    done.extend(open_.values())
    out = []
    for a in sorted(done, key=lambda a: a["raised"]):
        until = a["cleared"] if a["cleared"] is not None else end
        if until < start or a["raised"] > end:
            continue
        direction = directions.get(a["rule"], metric(a["metric"]).direction)
        peak = None
        if a["metric"] in METRIC_KEYS:
            lo, hi = max(a["raised"], start), min(until, end)
            series = rec.series(svc, a["metric"], lo, max(hi, lo + 0.001), 1)
            col = {c.value: bs for c, bs in series.items()}.get(a["colour"])
            if col:
                peak = col[0].high if direction == "above" else col[0].low
        raised = a["raised"] if a["raised"] >= start else None
        out.append(
            Alarm(
                a["rule"],
                a["metric"],
                a["colour"],
                a["level"],
                raised if raised is not None else None,
                a["cleared"] if a["cleared"] is not None and a["cleared"] <= end else None,
                a["value"],
                peak,
                a["threshold"],
                direction,
                min(until, end),
            )
        )
    return out


def _markers(rows: Sequence[Row]) -> list[svgchart.Marker]:
    out = []
    for r in rows:
        if r.kind in ACTION_VERBS:
            label = f"{r.kind}{f' → {r.colour}' if r.colour else ''}"
            if r.source == "audit log":
                label += f" ({r.who})"
            out.append(svgchart.Marker(r.t, label, "action"))
        elif r.kind == "alarm raised":
            out.append(svgchart.Marker(r.t, r.what, "alarm"))
        elif r.kind in ("alarm cleared", "alarm ended"):
            out.append(svgchart.Marker(r.t, r.what, "cleared"))
        elif r.kind in ("bake passed", "bake failed"):
            out.append(svgchart.Marker(r.t, r.what, "verdict"))
    return out


def _chart(
    key: str,
    series: Any,
    settings: Mapping[str, Any],
    markers: list[svgchart.Marker],
    start: float,
    end: float,
    tz: tzinfo | None,
) -> svgchart.Line:
    m = metric(key)
    thresholds = []
    for rule in settings.get("rules") or []:
        if (rule.get("metric") or rule.get("name")) != key:
            continue
        sign = ">" if rule.get("direction", "above") == "above" else "<"
        for level in ("warning", "critical"):
            v = rule.get(level)
            if isinstance(v, (int, float)):
                thresholds.append(
                    svgchart.Threshold(float(v), f"{level} {sign} {v:g}{m.unit_suffix}", level)
                )
    keep = {
        "alarm": lambda mk: m.label in mk.label,
        "cleared": lambda mk: m.label in mk.label,
    }
    return svgchart.Line(
        title=m.label if m.unit in ("", "%") else f"{m.label} ({m.unit})",
        unit=m.unit,
        start=start,
        end=end,
        series=[
            svgchart.Series(
                c.value,
                SERIES_COLOURS.get(c.value, "#555555"),
                [svgchart.Point(b.start, b.end, b.low, b.high, b.last) for b in bs],
            )
            for c, bs in series.items()
        ],
        thresholds=thresholds,
        markers=[mk for mk in markers if keep.get(mk.kind, lambda _m: True)(mk)],
        tz=tz,
        css_id=f"chart-{key}",
        # a figure missing for longer than a few polls is a gap in the line; a column that
        # fell between two polls is not
        max_gap=3 * float(settings.get("poll_interval") or 1.0),
    )


# ------------------------------------------------------------------------------------ rendering


def _title(d: ReportData) -> str:
    return f"Deployment timeline: {d.service.name}"


def _facts(d: ReportData) -> list[tuple[str, str]]:
    info = d.service.info
    facts = [
        ("service", info.name),
        ("router", redact(f"{info.router_kind}: {info.router_identity}")),
        ("recording", str(d.path)),
        (
            "range (UTC)",
            f"{utc(d.start)} – {utc(d.end)} ({duration(d.end - d.start)})",
        ),
        (
            f"range (local, {zone_name(d.start, d.tz)})",
            f"{local(d.start, d.tz, True)} – {local(d.end, d.tz, True)}",
        ),
        ("polls", f"{d.polls:,}"),
    ]
    for s in d.sessions:
        facts.append(
            (
                f"session {s['id']}",
                redact(
                    f"{s['command']} by {s['operator']}, {utc(s['started'])} UTC"
                    + (f" – {utc(s['ended'])} UTC" if s.get("ended") else " (did not end cleanly)")
                ),
            )
        )
    facts.append(("report written", f"{utc(d.generated)} UTC by bluegreen report"))
    return facts


def _alarm_cells(d: ReportData, a: Alarm) -> list[str]:
    return [
        a.colour,
        metric(a.metric).label,
        a.level,
        _value_text(a.metric, a.value),
        _value_text(a.metric, a.peak),
        _threshold_text(a.metric, a.direction, a.threshold),
        f"{utc(a.raised)} UTC / {local(a.raised, d.tz)}"
        if a.raised is not None
        else "before the range",
        (
            f"{utc(a.cleared)} UTC / {local(a.cleared, d.tz)}"
            if a.cleared is not None
            else "still raised at the end"
        ),
        (duration(a.lasted) if a.lasted is not None else "—")
        + ("" if a.cleared is not None else "+"),
    ]


ALARM_HEADINGS = [
    "colour",
    "metric",
    "level",
    "value",
    "worst",
    "threshold",
    "raised",
    "cleared",
    "lasted",
]


def _bake_cells(d: ReportData, b: Bake) -> list[str]:
    verdict = b.verdict.upper() if b.verdict else "undecided in the recording"
    return [
        b.colour,
        f"{utc(b.started)} UTC / {local(b.started, d.tz)}",
        duration(b.duration),
        verdict,
        redact(b.reason or "—"),
        f"{utc(b.decided)} UTC / {local(b.decided, d.tz)}" if b.decided else "—",
    ]


BAKE_HEADINGS = ["colour", "started", "window", "verdict", "reason", "decided"]


def _row_cells(d: ReportData, r: Row) -> list[str]:
    who = r.who
    if r.source == "audit log":
        who = f"{who} (audit log only)" if who else "audit log only"
    return [utc(r.t), local(r.t, d.tz), r.kind, r.colour or "", r.what, who]


def _row_headings(d: ReportData) -> list[str]:
    return ["UTC", f"local ({zone_name(d.start, d.tz)})", "event", "colour", "what", "who"]


def render_html(d: ReportData) -> str:
    """One self-contained HTML page: inline CSS and SVG, no script, no external reference."""
    e = escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(_title(d))}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{e(_title(d))}</h1>",
    ]
    for w in d.warnings:
        out.append(f'<p class="warning" role="alert"><strong>Warning:</strong> {e(w)}</p>')
    out.append('<table class="facts"><tbody>')
    for k, v in _facts(d):
        out.append(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>")
    out.append("</tbody></table>")

    out.append('<h2 id="verdict">Bake verdict</h2>')
    if d.bakes:
        out.append(_html_table(BAKE_HEADINGS, [_bake_cells(d, b) for b in d.bakes], "bakes"))
    else:
        out.append("<p>No bake window in this range.</p>")

    out.append('<h2 id="timeline">Timeline</h2>')
    if d.rows:
        body = []
        for r in d.rows:
            cls = r.kind.replace(" ", "-") + (" audit-only" if r.source == "audit log" else "")
            body.append((cls, _row_cells(d, r)))
        out.append(
            _html_table(_row_headings(d), [c for _, c in body], "timeline", [k for k, _ in body])
        )
    else:
        out.append("<p>Nothing happened in this range: no action, alarm, verdict or change.</p>")

    out.append('<h2 id="alarms">Alarms</h2>')
    if d.alarms:
        out.append(_html_table(ALARM_HEADINGS, [_alarm_cells(d, a) for a in d.alarms], "alarms"))
    else:
        out.append("<p>No alarm was raised in this range.</p>")

    out.append('<h2 id="charts">Charts</h2>')
    out.append(
        '<p class="legend-note">Both colours per metric: the band spans the lowest and highest '
        "figure of each column (a spike is never averaged away), the line its last figure; dashed "
        "lines are the alarm thresholds; vertical lines mark actions, triangles alarms (red), "
        "clears (green) and verdicts (purple). Ticks in local time.</p>"
    )
    if not d.charts:
        out.append("<p>No figures to chart in this range.</p>")
    for key, chart in d.charts.items():
        out.append(f'<figure class="chart" id="figure-{e(key)}">{svgchart.render(chart)}</figure>')
    if d.notes:
        out.append('<h2 id="notes">Notes</h2><ul class="notes">')
        out.extend(f"<li>{e(n)}</li>" for n in d.notes)
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_table(
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    cls: str,
    row_classes: Sequence[str] | None = None,
) -> str:
    e = escape
    out = [f'<table class="{cls}"><thead><tr>']
    out.extend(f"<th>{e(h)}</th>" for h in headings)
    out.append("</tr></thead><tbody>")
    for i, cells in enumerate(rows):
        rc = f' class="{e(row_classes[i])}"' if row_classes else ""
        out.append(f"<tr{rc}>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:64rem;
padding:0 1rem;color:#1a1a1a;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:1.6rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .4rem;text-align:left;vertical-align:top}
thead th{background:#f0f0f0}
table.facts{width:auto}table.facts th{background:#f7f7f7;font-weight:600}
td:nth-child(1),td:nth-child(2){white-space:nowrap}
tr.alarm-raised td,tr.bake-failed td{background:#fdecea}
tr.alarm-cleared td,tr.bake-passed td{background:#edf7ee}
tr.audit-only td{font-style:italic;background:#fff8e1}
.warning{border:2px solid #c62828;background:#fdecea;padding:.5rem}
figure.chart{margin:1rem 0;page-break-inside:avoid;break-inside:avoid}
figure.chart svg{max-width:100%;height:auto}
@media print{body{max-width:none;margin:0;font-size:10pt}
tr{page-break-inside:avoid}thead{display:table-header-group}
tr.alarm-raised td,tr.bake-failed td,tr.audit-only td,.warning{-webkit-print-color-adjust:exact;
print-color-adjust:exact}}
""".strip()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(h) for h in headings) + " |"]
    out.append("|" + "---|" * len(headings))
    out.extend("| " + " | ".join(_md_cell(c) for c in cells) + " |" for cells in rows)
    return out


def render_markdown(d: ReportData, chart_files: dict[str, str] | None = None) -> str:
    """Markdown; ``chart_files`` maps a metric to the SVG file (relative) it links, None: none."""
    out = [f"# {_title(d)}", ""]
    for w in d.warnings:
        out += [f"> **Warning:** {w}", ""]
    out += _md_table(["", ""], [[f"**{k}**", v] for k, v in _facts(d)]) + [""]
    out += ["## Bake verdict", ""]
    if d.bakes:
        out += _md_table(BAKE_HEADINGS, [_bake_cells(d, b) for b in d.bakes]) + [""]
    else:
        out += ["No bake window in this range.", ""]
    out += ["## Timeline", ""]
    if d.rows:
        out += _md_table(_row_headings(d), [_row_cells(d, r) for r in d.rows]) + [""]
    else:
        out += ["Nothing happened in this range: no action, alarm, verdict or change.", ""]
    out += ["## Alarms", ""]
    if d.alarms:
        out += _md_table(ALARM_HEADINGS, [_alarm_cells(d, a) for a in d.alarms]) + [""]
    else:
        out += ["No alarm was raised in this range.", ""]
    out += ["## Charts", ""]
    if not d.charts:
        out += ["No figures to chart in this range.", ""]
    elif chart_files is None:
        out += [
            "Charts are written beside the report only: run again with `-o FILE.md` "
            "(or `--format html` for one self-contained page).",
            "",
        ]
    else:
        for key in d.charts:
            if key in chart_files:
                out += [f"![{d.charts[key].title}]({chart_files[key]})", ""]
    if d.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in d.notes] + [""]
    return "\n".join(out).rstrip() + "\n"


# ------------------------------------------------------------------------------------ the command


def chart_name(out: Path, key: str) -> Path:
    """The SVG a Markdown report at ``out`` writes for ``key``: ``OUT-stem.KEY.svg`` beside it."""
    return out.with_name(f"{out.stem}.{key}.svg")


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"--tz {name!r}: no such time zone; give an IANA name like Europe/Berlin"
        ) from None


def run(args: argparse.Namespace) -> int:
    """``bluegreen report``: exit 0 written, 2 bad usage or a file that is not a readable recording."""
    fmt = args.format
    out = Path(args.output) if args.output else None
    if fmt is None:
        fmt = "html" if out is not None and out.suffix.lower() in (".html", ".htm") else "md"
    try:
        tz = _zone(args.tz)
    except ValueError as exc:
        print(f"bluegreen report: {exc}", file=sys.stderr)
        return 2
    try:
        with Recording(args.file) as rec:
            svc = rec.service(args.service)
            day = svc.last if svc.last is not None else datetime.now(timezone.utc).timestamp()
            try:
                start = parse_time(args.start, tz, day) if args.start else None
                end = parse_time(args.end, tz, day) if args.end else None
            except ValueError as exc:
                print(f"bluegreen report: {exc}", file=sys.stderr)
                return 2
            if start is not None and end is not None and end < start:
                print(
                    f"bluegreen report: --to ({utc(end)} UTC) is before --from ({utc(start)} UTC)",
                    file=sys.stderr,
                )
                return 2
            # one console's session: two consoles recording at once would list each event twice
            rec.only_session(rec.pick_session(svc, args.session, start))
            data = build(rec, svc.name, start, end, tz)
    except RecordingError as exc:
        print(f"bluegreen report: {exc}", file=sys.stderr)
        return 2
    for w in data.warnings:
        print(f"bluegreen report: warning: {w}", file=sys.stderr)
    if fmt == "html":
        text = render_html(data)
    elif out is None:
        text = render_markdown(data, None)
    else:
        files = {}
        for key, chart in data.charts.items():
            svg = chart_name(out, key)
            svg.parent.mkdir(parents=True, exist_ok=True)
            svg.write_text(
                '<?xml version="1.0" encoding="utf-8"?>\n'
                + svgchart.render(chart, standalone=True)
                + "\n",
                encoding="utf-8",
            )
            files[key] = svg.name
        text = render_markdown(data, files)
    if out is None:
        sys.stdout.write(text)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    extra = f" and {len(data.charts)} chart(s) beside it" if fmt == "md" and data.charts else ""
    print(f"bluegreen report: wrote {out}{extra}", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    """The ``report`` subcommand (``console.cli`` calls this)."""
    r = sub.add_parser(
        "report",
        help="the timeline of a recorded deployment for an incident review (Markdown or HTML)",
        description="Write the timeline of a recording: actions and who took them, alarms with "
        "their figures, bake verdicts, outside changes, backend errors, and a chart per metric. "
        "Times in UTC and the local zone.",
        epilog="TIME: 2026-01-01T10:15:00Z (ISO 8601; without a zone: local time), 10:15 (local, "
        "on the recording's last day), or epoch seconds. Markdown to stdout has no charts; with "
        "-o OUT.md the charts are written beside it as OUT.METRIC.svg. Exit status: 0 written, "
        "2 bad usage or not a readable recording.",
    )
    r.add_argument("file", metavar="FILE", help="a recording (see `bluegreen replay --help`)")
    r.add_argument("--service", help="which service (default: the one with the most polls)")
    r.add_argument("--from", dest="start", metavar="TIME", help="start (default: the first poll)")
    r.add_argument("--to", dest="end", metavar="TIME", help="end (default: the last poll)")
    r.add_argument(
        "--session",
        metavar="N|all",
        help="which recorded session (default: the one polling at --from, else the newest; "
        "'all' merges every console that recorded into the file)",
    )
    r.add_argument(
        "--format",
        choices=("md", "html"),
        help="md or html (default: html when -o ends in .html, else md)",
    )
    r.add_argument("-o", "--output", metavar="OUT", help="write here (default: stdout)")
    r.add_argument(
        "--tz",
        metavar="ZONE",
        help="the local zone shown beside UTC (default: this machine's; e.g. Europe/Berlin)",
    )
    r.set_defaults(func=run)
