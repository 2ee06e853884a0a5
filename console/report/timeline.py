"""Building a report: the recording's events and the audit log's records into one timeline, the
alarms with their figures, the bake verdicts and the charts (:func:`build`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any

from console import svgchart
from console.audit import AuditLog
from console.model import METRIC_KEYS, metric
from console.recording import Event, RecordedService, Recording
from console.report.model import (
    ACTION_VERBS,
    CHART_BUCKETS,
    SERIES_COLOURS,
    Alarm,
    ReportData,
    Row,
    redact,
    utc,
    value_text,
)

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
                    f"{e.colour} {label} cleared at {value_text(e.metric or '', e.value)} "
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
