"""The report's model (:class:`ReportData` and its rows) and the helpers that format times and
figures for it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from console import svgchart
from console.model import metric
from console.recording import Bake, RecordedService

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


def value_text(metric_key: str, value: float | None) -> str:
    return metric(metric_key).text(value, "no data")


def threshold_text(metric_key: str, direction: str, value: float | None) -> str:
    if value is None:
        return "—"
    sign = ">" if direction == "above" else "<"
    return f"{sign} {value:g}{metric(metric_key).unit_suffix}"
