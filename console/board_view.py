"""The board's rows as plain data, from each service's last frame: pure (no Textual, no I/O).

A row says what an on-call engineer scans for: the service, its router kind, the live colour and the
weights, the bake (with the time left), the worst alarm, the live colour's rate / error % / p99 with a
small trend of its error %, and the data's age. Rows in trouble sort first: critical (a critical
alarm, a router that cannot be read, a config that did not load), then warning, then baking, then the
rest, each group by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from console.fmt import duration
from console.model import BakeVerdict, Frame, Level

RANK_CRITICAL, RANK_WARNING, RANK_BAKING, RANK_OK = 0, 1, 2, 3
TREND = 8  # error % samples kept per row for its trend


@dataclass(frozen=True)
class BoardRow:
    """One service as the board draws it."""

    name: str
    kind: str = ""
    live: str | None = None  # "blue" / "green"; None: not known
    weights: str = ""  # "100/0" (blue/green)
    draining: str = ""  # the colour draining, if any
    bake: str = ""  # "baking 4m left", "PASSED", "FAILED"
    alarm: str = ""  # the worst alarm's message, or the error that makes the row critical
    level: Level = Level.OK
    rate: float | None = None
    error_pct: float | None = None
    p99: float | None = None
    trend: tuple[float | None, ...] = ()  # the live colour's error %, oldest first
    age: float | None = None  # seconds since the data was read
    rank: int = RANK_OK
    busy: str = ""  # an action under way on this service

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.rank, self.name)


def error_row(name: str, error: str, kind: str = "") -> BoardRow:
    """A service that is not watched (its config did not load, its backends could not be built)."""
    return BoardRow(name, kind, alarm=error, level=Level.CRITICAL, rank=RANK_CRITICAL)


def frame_row(
    name: str,
    kind: str,
    frame: Frame | None,
    now_mono: float,
    trend: Sequence[float | None] = (),
    busy: str = "",
    late: str | None = None,
) -> BoardRow:
    """A watched service's row. ``now_mono``: the monotonic time now (for ages and the bake's
    time left); ``trend``: the live colour's last error % figures; ``late``: its poll is out."""
    if frame is None:
        return BoardRow(name, kind, alarm=late or "waiting for the first poll", busy=busy)
    snap = frame.snapshot
    router = snap.router
    live = snap.live
    weights, draining = "", ""
    if router is not None:
        from backends.base import COLOURS

        ws = [router.colour(c).weight for c in COLOURS]
        if all(w is not None for w in ws):
            weights = "/".join(str(w) for w in ws)
        draining = next((c.value for c in COLOURS if router.colour(c).draining), "")
    m = snap.colour_metrics(live) if live is not None else None
    bake = ""
    b = frame.bake
    if b.verdict == BakeVerdict.BAKING and b.colour is not None:
        bake = f"baking {duration(b.remaining(now_mono))} left"
    elif b.decided:
        bake = "PASSED" if b.verdict == BakeVerdict.PASSED else "FAILED"
    firing = sorted(frame.alarms.firing, key=lambda a: -int(a.level))
    level = firing[0].level if firing else Level.OK
    alarm = firing[0].message if firing else ""
    if snap.router_error:
        level, alarm = Level.CRITICAL, f"router: {snap.router_error}"
    elif late:
        alarm = alarm or late
    elif snap.metrics_error and not alarm:
        level, alarm = Level.WARNING, f"metrics: {snap.metrics_error}"
    if level == Level.CRITICAL:
        rank = RANK_CRITICAL
    elif level == Level.WARNING:
        rank = RANK_WARNING
    elif b.verdict == BakeVerdict.BAKING:
        rank = RANK_BAKING
    else:
        rank = RANK_OK
    ages = [a for a in (snap.age(snap.router_time), snap.age(snap.metrics_time)) if a is not None]
    age = max(ages) + max(0.0, now_mono - snap.mono_time) if ages else None
    return BoardRow(
        name,
        kind,
        live.value if live else None,
        weights,
        draining,
        bake,
        alarm,
        level,
        m.rate if m else None,
        m.error_pct if m else None,
        m.latency_ms if m else None,
        tuple(trend)[-TREND:],
        age,
        rank,
        busy,
    )


def ordered(rows: Iterable[BoardRow], query: str = "") -> list[BoardRow]:
    """Trouble first (critical, warning, baking, the rest), then by name; ``query`` keeps the rows
    whose name holds it (case-insensitive)."""
    q = query.strip().lower()
    return sorted((r for r in rows if q in r.name.lower()), key=lambda r: r.sort_key)
