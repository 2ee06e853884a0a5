"""Pure helpers of the HAProxy router: parse what the runtime API answers, and turn counters into
per-colour figures. No I/O here, so all of it is testable from strings.

* ``parse_stat``: the whole ``show stat`` CSV (one command per poll) -> rows keyed by
  ``(pxname, svname)``. Parsed with :mod:`csv` rather than haproxyadmin's ``stat2dict``, whose
  column names live in a class-level global (``CSVLine.heads``) shared by every thread.
* ``parse_map``: ``show map <file>`` -> {key: value}.
* ``parse_servers_state``: ``show servers state`` -> admin flags per server (``show stat`` cannot
  tell a drained server that is also DOWN from a DOWN one).
* ``CounterHistory``: error % from response-counter deltas between polls.
"""

from __future__ import annotations

import csv
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from backends.base import ColourMetrics, ServerStatus

#: HAProxy's latency fields (qtime, ctime, rtime, ttime) are averages; there are no percentiles.
LATENCY_STAT = "avg of last 1024"

# show stat "type" column
TYPE_FRONTEND, TYPE_BACKEND, TYPE_SERVER = "0", "1", "2"

# show servers state: srv_admin_state bits (src/server.h)
ADMF_FMAINT, ADMF_IMAINT, ADMF_CMAINT = 0x01, 0x02, 0x04
ADMF_FDRAIN, ADMF_IDRAIN = 0x08, 0x10
ADMF_RMAINT, ADMF_HMAINT = 0x20, 0x80
ADMF_MAINT = ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT | ADMF_HMAINT
ADMF_DRAIN = ADMF_FDRAIN | ADMF_IDRAIN

K = TypeVar("K")  # a colour, or its name

_RESPONSE_COLUMNS = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


class StatParseError(ValueError):
    """The answer does not look like ``show stat`` CSV."""


def parse_stat(lines: Iterable[str]) -> dict[tuple[str, str], dict[str, str]]:
    """``show stat`` lines -> {(pxname, svname): {column: value}}, in HAProxy's order."""
    lines = [ln for ln in lines if ln.strip()]
    if not lines or not lines[0].startswith("# pxname"):
        first = lines[0] if lines else "(nothing)"
        raise StatParseError(f"expected `show stat` CSV, got {first[:120]!r}")
    header = lines[0][2:].rstrip(",").split(",")
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for values in csv.reader(lines[1:]):
        row = dict(zip(header, values, strict=False))
        if "pxname" in row and "svname" in row:
            rows[(row["pxname"], row["svname"])] = row
    return rows


def parse_map(lines: Iterable[str]) -> dict[str, str]:
    """``show map <file>`` lines (``0x55f3... key value``) -> {key: value}; the first entry wins,
    as it does for HAProxy's lookups."""
    entries: dict[str, str] = {}
    for line in lines:
        parts = line.strip().split(None, 2)
        if len(parts) == 3 and parts[0].startswith("0x"):
            entries.setdefault(parts[1], parts[2])
    return entries


def parse_map_list(lines: Iterable[str]) -> list[str]:
    """``show map`` (no argument) -> the map files HAProxy knows, as named in its config."""
    names = []
    for line in lines:
        if line.startswith("#") or "(" not in line:
            continue
        start, end = line.find("("), line.find(")")
        if 0 <= start < end:
            names.append(line[start + 1 : end])
    return names


def parse_servers_state(lines: Iterable[str]) -> dict[tuple[str, str], int]:
    """``show servers state`` -> {(backend, server): srv_admin_state}."""
    header: list[str] | None = None
    out: dict[tuple[str, str], int] = {}
    for line in lines:
        if line.startswith("# be_id"):
            header = line[2:].split()
            continue
        if not line.strip() or line.startswith("#") or header is None or line.strip() == "1":
            continue
        row = dict(zip(header, line.split(), strict=False))
        try:
            out[(row["be_name"], row["srv_name"])] = int(row["srv_admin_state"])
        except (KeyError, ValueError):
            continue
    return out


def server_status(text: str) -> ServerStatus:
    """HAProxy's ``status`` column -> ServerStatus.

    ``UP 1/3`` (up, failing checks) is still UP; ``DOWN 1/2`` (down, passing checks) still DOWN;
    ``MAINT (via b/s)`` and ``DRAIN (agent)`` keep their first word; ``NOLB`` (up but taking no new
    load-balanced traffic) is a DRAIN; ``no check`` (a server without health checks) is UP.
    """
    s = text.strip().upper()
    if s.startswith("MAINT"):
        return ServerStatus.MAINT
    if s.startswith("DRAIN") or s.startswith("NOLB"):
        return ServerStatus.DRAIN
    if s.startswith("UP") or s == "NO CHECK":
        return ServerStatus.UP
    if s.startswith("DOWN"):
        return ServerStatus.DOWN
    return ServerStatus.UNKNOWN


def num(row: Mapping[str, str], column: str) -> float | None:
    value = row.get(column, "")
    if value in ("", "-"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def responses(row: Mapping[str, str]) -> tuple[float, float]:
    """(5xx responses, all responses) counted so far on this row."""
    total = sum(num(row, c) or 0.0 for c in _RESPONSE_COLUMNS)
    return num(row, "hrsp_5xx") or 0.0, total


def split_share(weights: Mapping[K, int]) -> dict[K, int]:
    """{colour: summed weight} -> {colour: percent}, rounded so they add up to 100."""
    total = sum(weights.values())
    if total <= 0:
        return {c: 0 for c in weights}
    shares = {c: round(100 * w / total) for c, w in weights.items()}
    drift = 100 - sum(shares.values())
    if drift and shares:
        top = max(shares, key=lambda c: shares[c])
        shares[top] += drift
    return shares


def absolute_weights(percent: int, servers: int, scale: int = 240) -> int:
    """The absolute ``set weight`` (0..256) each of ``servers`` servers gets so that together they
    carry ``percent`` of the split. 240 divides by 1..6 and 8, so steps of 10 % come out exact.
    Never ``N%``: HAProxy reads that relative to the initial weight, and 0 stays 0."""
    if percent <= 0 or servers <= 0:
        return 0
    return max(1, min(256, round(percent * scale / (100 * servers))))


@dataclass(frozen=True)
class _Sample:
    at: float
    counters: Mapping[str, tuple[float, float]]  # colour -> (5xx, total)


class CounterHistory:
    """Error % from response-counter deltas between polls.

    ``state()`` is called by the poller and again for each action's read-back, so the delta is taken
    against the newest sample at least ``min_window`` seconds old (not the very last call), which
    keeps a read-back right after a poll from computing a percentage over a few milliseconds.
    Counters that go down mean HAProxy restarted: the history starts again ("measuring").
    """

    def __init__(self, min_window: float = 0.8, keep: float = 60.0) -> None:
        self.min_window = min_window
        self.keep = keep
        self._samples: deque[_Sample] = deque()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()

    def observe(
        self, counters: Mapping[str, tuple[float, float]], now: float | None = None
    ) -> dict[str, tuple[float | None, str | None]]:
        """Record this poll's counters; return {colour: (error_pct or None, note or None)}."""
        now = time.monotonic() if now is None else now
        with self._lock:
            restarted = any(
                colour in s.counters and counters[colour][1] < s.counters[colour][1]
                for s in self._samples
                for colour in counters
            )
            if restarted:
                self._samples.clear()
            base = None
            for sample in reversed(self._samples):
                if now - sample.at >= self.min_window:
                    base = sample
                    break
            if base is None and self._samples:
                base = self._samples[0]  # polled again quickly: the widest window there is
            self._samples.append(_Sample(now, dict(counters)))
            while len(self._samples) > 2 and now - self._samples[1].at > self.keep:
                self._samples.popleft()

        out: dict[str, tuple[float | None, str | None]] = {}
        for colour, (errors, total) in counters.items():
            if base is None or colour not in base.counters:
                note = "measuring (HAProxy restarted)" if restarted else "measuring"
                out[colour] = (None, note)
                continue
            d_err = errors - base.counters[colour][0]
            d_total = total - base.counters[colour][1]
            if d_total <= 0:
                out[colour] = (None, "no traffic")
            else:
                out[colour] = (100.0 * max(0.0, d_err) / d_total, None)
        return out


def colour_metrics(
    rows: Sequence[Mapping[str, str]],
    error: tuple[float | None, str | None],
    latency_weights: list[float],
) -> ColourMetrics:
    """One colour's figures from the stat rows that carry its traffic.

    ``rows`` are the colour backend's BACKEND row plus, when a split is configured, the split
    backend's server rows that track this colour. ``latency_weights`` weight each row's ``rtime``
    (responses counted since the previous sample, or in total).
    """
    notes: dict[str, str] = {}
    rate = sum(num(r, "rate") or 0.0 for r in rows) if rows else None
    sessions = sum(num(r, "scur") or 0.0 for r in rows) if rows else None
    error_pct, error_note = error
    if error_note:
        notes["error_pct"] = error_note
    latency = None
    pairs = [
        (num(r, "rtime"), w)
        for r, w in zip(rows, latency_weights, strict=False)
        if w > 0 and num(r, "rtime") is not None
    ]
    if pairs:
        total_w = sum(w for _, w in pairs)
        latency = sum((v or 0.0) * w for v, w in pairs) / total_w
    else:
        notes["latency_ms"] = "no traffic"
    if not rows:
        notes["rate"] = "backend not in show stat"
    return ColourMetrics(
        rate=rate,
        error_pct=error_pct,
        latency_ms=latency,
        sessions=sessions,
        latency_stat=LATENCY_STAT,
        notes=notes,
    )
