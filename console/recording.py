"""Reading a recording (:mod:`console.recorder` writes it): the services it holds, their polls as
``Frame`` objects (replay draws them through the same path as live ones), a metric's series
downsampled with min and max (charts, reports), events and bake verdicts.

Read-only: opening a recording never changes it. A file that is not a recording, is empty, comes
from a newer bluegreen or is damaged raises ``RecordingError`` with what it is and what to do; a
file damaged part-way reads up to the damage (``Recording.damage`` says where it stopped).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import (
    COLOURS,
    Colour,
    ColourMetrics,
    ColourState,
    RouterState,
    ServerState,
    ServerStatus,
)
from console.alarms import AlarmEngine, alarm_message, quiet_colour
from console.model import (
    METRIC_KEYS,
    ROUTING,
    SERVERS,
    AlarmEvent,
    AlarmReport,
    AlarmState,
    BakeState,
    BakeVerdict,
    Frame,
    Level,
    Snapshot,
    invariant_breaches,
    metric_label,
    servers_breach,
    shown_label,
)
from console.recorder import (
    SCALE,
    SCHEMA_VERSION,
    RecordingError,
    ServiceInfo,
    check_header,
    connect,
)

__all__ = ["Bake", "Event", "RecordedService", "Recording", "RecordingError", "Bucket"]


@dataclass(frozen=True)
class RecordedService:
    id: int
    info: ServiceInfo
    first: float | None  # wall time of its first and last poll
    last: float | None
    polls: int

    @property
    def name(self) -> str:
        return self.info.name


@dataclass(frozen=True)
class Event:
    """One thing that happened: an alarm raised or cleared, an action, an outside change, a backend
    error, a bake started or decided (``kind``, as in ``console.recorder.EVENT_KINDS``)."""

    t: float
    kind: str
    message: str
    colour: str | None = None
    metric: str | None = None
    level: str | None = None
    value: float | None = None
    threshold: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    session: int | None = None


@dataclass(frozen=True)
class Bake:
    colour: str
    started: float  # wall time
    duration: float
    verdict: str | None  # "passed" / "failed", or None: undecided when the recording ends
    reason: str | None
    decided: float | None
    decided_by: str | None = None  # "alice@host": whose console decided it (schema 2 and later)


@dataclass(frozen=True)
class Bucket:
    """One column of a downsampled series: the smallest, the largest and the last value in
    [start, end). A spike survives any zoom level (min/max, never averaged away)."""

    start: float
    end: float
    low: float | None
    high: float | None
    last: float | None


_POLL_COLUMNS = (
    "t, mono, state, router_age, metrics_age, router_error, metrics_error, extra, alarms, bake, "
    + ", ".join(f"{c.value}_{k}" for c in COLOURS for k in METRIC_KEYS)
    + ", session"
)


class Recording:
    """An open recording, read-only. ``with Recording(path) as rec: ...``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.damage: str | None = None
        self.version = SCHEMA_VERSION
        if not self.path.exists():
            raise RecordingError(
                f"{self.path}: no such recording; `bluegreen watch` and `demo` record by default "
                "(see `bluegreen replay --help` for where)"
            )
        if self.path.is_dir():
            raise RecordingError(f"{self.path}: a directory, not a recording")
        if self.path.stat().st_size == 0:
            raise RecordingError(
                f"{self.path}: an empty file, not a recording (nothing was recorded)"
            )
        self._copy: Path | None = None
        try:
            self.db = self._open(self.path)
        except sqlite3.DatabaseError as exc:
            # A file cut short (a disk that filled, a copy that stopped) whose header still counts
            # the pages it lost: read a copy whose header counts what is there.
            self.db = self._open_truncated(exc)
        self._blobs: dict[int, Any] = {}
        self.session: int | None = None  # only_session()
        self._states: dict[int, RouterState] = {}
        self._skews: dict[tuple[int, int], int] = {}  # (service, session) -> wall minus mono, ms
        if self.version >= 2:
            with contextlib.suppress(sqlite3.DatabaseError):
                for sid, session, skew in self.db.execute(
                    "SELECT service, session, skew FROM clocks"
                ):
                    self._skews[(sid, session)] = skew

    def _open(self, path: Path) -> sqlite3.Connection:
        try:
            db = connect(path, write=False)
        except sqlite3.Error as exc:
            raise RecordingError(f"{self.path}: cannot be opened: {exc}") from None
        try:
            self.version = check_header(db, self.path, creating=False)
            db.execute("SELECT count(*) FROM services").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _open_truncated(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection:
        damaged = RecordingError(
            f"{self.path}: damaged beyond reading ({exc}); `sqlite3 FILE .recover` may save "
            "what is left"
        )
        with self.path.open("rb") as fh:
            header = fh.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
            raise damaged from None
        page = int.from_bytes(header[16:18], "big")
        page = 65536 if page == 1 else page
        pages = self.path.stat().st_size // page
        if pages < 2:
            raise damaged from None
        fd, name = tempfile.mkstemp(prefix="bluegreen-recovered-", suffix=".sqlite")
        os.close(fd)
        self._copy = Path(name)
        with self.path.open("rb") as src, self._copy.open("wb") as dst:
            shutil.copyfileobj(src, dst)
            dst.truncate(pages * page)
            dst.seek(28)
            dst.write(pages.to_bytes(4, "big"))
        try:
            db = self._open(self._copy)
        except (sqlite3.DatabaseError, RecordingError):
            self._copy.unlink(missing_ok=True)
            raise damaged from None
        self.damage = f"{self.path}: cut short or damaged ({exc}); reading what is left of it"
        return db

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def only_session(self, session: int | None) -> None:
        """Read the polls and events of one session only (None: every session). Two consoles
        recording one file at once are two sessions: a replay or a report of both would step
        through both consoles' polls in turn and list each event twice."""
        self.session = None if session is None else int(session)

    def pick_session(
        self, svc: RecordedService, choice: str | None = None, at: float | None = None
    ) -> int | None:
        """The session a replay or a report reads (``--session``): ``"all"`` for every one (None),
        a session's number, or by default the one that polled ``svc`` at ``at`` (or first after
        it), else the newest one that polled it.

        Raises:
            RecordingError: no session of that number polled ``svc`` (the message lists them).
        """
        if choice == "all":
            return None
        polled = [
            int(ses["id"])
            for ses in self.sessions()
            if self._one(
                f"SELECT 1 FROM {self._polls} WHERE service = ? AND session = ? LIMIT 1",
                (svc.id, int(ses["id"])),
            )
        ]
        if choice is not None:
            if not choice.isdigit() or int(choice) not in polled:
                listed = ", ".join(str(n) for n in polled) or "none"
                raise RecordingError(
                    f"{self.path}: no session {choice!r} polled {svc.name!r}; its sessions: "
                    f"{listed} (or --session all)"
                )
            return int(choice)
        if at is not None:
            row = self._one(
                f"SELECT session FROM {self._polls} WHERE service = ? AND t >= ? ORDER BY t LIMIT 1",
                (svc.id, int(at * 1000)),
            )
            if row:
                return int(row[0])
        return polled[-1] if polled else None

    @property
    def _in_session(self) -> str:
        return "" if self.session is None else f" AND session = {int(self.session)}"

    @property
    def _key_order(self) -> str:
        """The polls table's key: its own order, in which a damaged file streams up to the damage
        (an ORDER BY that needs a sort would read nothing of it)."""
        return "service, t, session" if self.version >= 2 else "service, session, t"

    @property
    def _polls(self) -> str:
        """The polls table as queries name it: in a damaged file, read in its own order, never
        through its index (which may point into the part that is lost)."""
        return "polls NOT INDEXED" if self.damage else "polls"

    @property
    def _poll_order(self) -> str:
        """In a damaged file, the table's own order (a sort by time would read all of it first,
        and stop at the damage with nothing)."""
        return self._key_order if self.damage else "t"

    @property
    def _t(self) -> str:
        """The time column in a WHERE: ``+t`` in a damaged file, which keeps SQLite off the time
        index (NOT INDEXED alone does not, for a WITHOUT ROWID table)."""
        return "+t" if self.damage else "t"

    def close(self) -> None:
        self.db.close()
        if self._copy is not None:
            self._copy.unlink(missing_ok=True)

    # ---------------------------------------------------------------- what is in it

    def services(self) -> list[RecordedService]:
        out = []
        for sid, name, kind, identity, settings in self._rows(
            "SELECT id, name, router_kind, router_identity, settings FROM services ORDER BY id"
        ):
            if self.damage:  # count in the table's order, up to the damage (an aggregate stops)
                ts = [
                    t
                    for (t,) in self._rows(
                        f"SELECT t FROM polls NOT INDEXED WHERE service = ?{self._in_session} "
                        f"ORDER BY {self._key_order}",
                        (sid,),
                    )
                ]
                first, last, n = (min(ts), max(ts), len(ts)) if ts else (None, None, 0)
            else:
                first, last, n = self._one(
                    f"SELECT min(t), max(t), count(*) FROM polls WHERE service = ?{self._in_session}",
                    (sid,),
                ) or (None, None, 0)
            out.append(
                RecordedService(
                    sid,
                    ServiceInfo(name, kind, identity, _loads(settings) or {}),
                    first / 1000 if first is not None else None,
                    last / 1000 if last is not None else None,
                    int(n or 0),
                )
            )
        return out

    def service(self, name: str | None = None) -> RecordedService:
        """The service named ``name`` (the one with the most polls of that name when it ran on two
        routers), or the only one / the busiest one when ``name`` is None."""
        found = [s for s in self.services() if name is None or s.name == name]
        if not found:
            names = ", ".join(sorted({s.name for s in self.services()})) or "none"
            if name is None:
                raise RecordingError(
                    f"{self.path}: a recording with no service in it yet (nothing was polled)"
                )
            raise RecordingError(
                f"{self.path}: no service named {name!r} in this recording; it holds: {names}"
            )
        return max(found, key=lambda s: s.polls)

    def sessions(self) -> list[dict[str, Any]]:
        cols = ("id", "started", "ended", "command", "operator", "pid", "audit_log")
        return [
            dict(zip(cols, r, strict=True))
            for r in self._rows(f"SELECT {', '.join(cols)} FROM sessions ORDER BY id")
        ]

    # ---------------------------------------------------------------- rows

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql``, up to any damage in the file (noted in ``damage``, never raised)."""
        try:
            yield from self.db.execute(sql, args)  # row by row: a batch would lose rows at damage
        except sqlite3.DatabaseError as exc:
            self.damage = self.damage or f"{self.path}: damaged; read up to the damage ({exc})"

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        for row in self._rows(sql, args):
            return row
        return None

    def _blob(self, bid: int | None) -> Any:
        if bid is None:
            return None
        if bid not in self._blobs:
            row = self._one("SELECT body FROM blobs WHERE id = ?", (bid,))
            body = row[0] if row else None
            value: Any = body
            if isinstance(body, str) and body[:1] in "[{":
                value = _loads(body)
            if len(self._blobs) > 20_000:
                self._blobs.clear()
            self._blobs[bid] = value
        return self._blobs[bid]

    def _state(self, bid: int | None) -> RouterState | None:
        if bid is None:
            return None
        if bid not in self._states:
            data = self._blob(bid)
            self._states[bid] = _state_from(data) if isinstance(data, dict) else None  # type: ignore[assignment]
        return self._states[bid]

    # ---------------------------------------------------------------- queries

    def span(self, svc: RecordedService) -> tuple[float, float] | None:
        if svc.first is None or svc.last is None:
            return None
        return svc.first, svc.last

    def events(
        self,
        svc: RecordedService,
        start: float | None = None,
        end: float | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[Event]:
        sql = (
            "SELECT t, kind, message, colour, metric, level, value, threshold, data, session "
            f"FROM events WHERE service = ?{self._in_session} AND t >= ? AND t <= ?"
        )
        args: list[Any] = [
            svc.id,
            start if start is not None else -1e18,
            end if end is not None else 1e18,
        ]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        sql += " ORDER BY t, id"
        return [
            Event(t, k, msg, col, met, lvl, val, thr, _loads(data) or {}, ses)
            for t, k, msg, col, met, lvl, val, thr, data, ses in self._rows(sql, args)
        ]

    def bakes(self, svc: RecordedService) -> list[Bake]:
        return [
            Bake(*row)
            for row in self._rows(
                "SELECT colour, started, duration, verdict, reason, decided, "
                f"{'decided_by' if self.version >= 2 else 'NULL'} FROM bakes "
                "WHERE service = ? ORDER BY started, id",
                (svc.id,),
            )
        ]

    def times(
        self, svc: RecordedService, start: float | None = None, end: float | None = None
    ) -> list[float]:
        """The wall times of the polls in [start, end]: replay steps through them."""
        lo, hi = _range_ms(start, end)
        sql = f"SELECT t FROM {self._polls} WHERE service = ?{self._in_session} "
        sql += f"AND {self._t} BETWEEN ? AND ? "
        ts = [
            t / 1000 for (t,) in self._rows(sql + f"ORDER BY {self._poll_order}", (svc.id, lo, hi))
        ]
        return sorted(ts) if self.damage else ts

    def series(
        self,
        svc: RecordedService,
        metric: str,
        start: float,
        end: float,
        buckets: int,
    ) -> dict[Colour, list[Bucket]]:
        """``metric`` for both colours over [start, end], in ``buckets`` equal columns, each with
        its min, max and last value (None where nothing was measured)."""
        if metric not in SCALE:
            raise ValueError(f"unknown metric {metric!r}")
        buckets = max(1, buckets)
        width = max(1e-3, (end - start) / buckets)
        scale = SCALE[metric]
        out: dict[Colour, list[Bucket]] = {}
        if not self.damage:
            return self._series_sql(svc, metric, start, end, buckets, width)
        for c in COLOURS:
            col = f"{c.value}_{metric}"
            acc: dict[int, list[float]] = {}
            lastv: dict[int, float | None] = {}
            sql = f"SELECT t, {col} FROM {self._polls} WHERE service = ?{self._in_session} "
            sql += f"AND {self._t} BETWEEN ? AND ? "
            sql += f"ORDER BY {self._poll_order}"
            for t, v in self._rows(sql, (svc.id, int(start * 1000), int(end * 1000))):
                i = min(buckets - 1, int((t / 1000 - start) / width))
                if v is None:
                    lastv.setdefault(i, None)
                    continue
                x = v / scale
                a = acc.get(i)
                if a is None:
                    acc[i] = [x, x]
                else:
                    a[0], a[1] = min(a[0], x), max(a[1], x)
                lastv[i] = x
            out[c] = [
                Bucket(
                    start + i * width,
                    start + (i + 1) * width,
                    acc[i][0] if i in acc else None,
                    acc[i][1] if i in acc else None,
                    lastv.get(i),
                )
                for i in range(buckets)
            ]
        return out

    def _series_sql(
        self,
        svc: RecordedService,
        metric: str,
        start: float,
        end: float,
        buckets: int,
        width: float,
    ) -> dict[Colour, list[Bucket]]:
        """``series`` with the columns grouped by SQLite: a day of 1 s polls in about 0.1 s per
        metric, where a loop in Python over its 86,400 rows took a second. (A damaged file is
        read row by row instead: an aggregate would stop at the damage with nothing.)"""
        scale = SCALE[metric]
        column = "min(?, CAST((t / 1000.0 - ?) / ? AS INTEGER))"
        # A range that is a good part of the recording reads the table in its own order (``+t``
        # keeps SQLite off the time index, whose every row costs a lookup in the table); a short
        # range goes through the index.
        whole = (svc.last or end) - (svc.first or start)
        t = "+t" if end - start > 0.2 * whole else "t"
        where = f"FROM polls WHERE service = ?{self._in_session} AND {t} BETWEEN ? AND ?"
        args = (buckets - 1, start, width, svc.id, int(start * 1000), int(end * 1000))
        cols = [f"{c.value}_{metric}" for c in COLOURS]
        spread: dict[int, tuple[Any, ...]] = {}
        aggs = ", ".join(f"min({col}), max({col})" for col in cols)
        for row in self._rows(f"SELECT {column} AS i, {aggs} {where} GROUP BY i", args):
            spread[row[0]] = row[1:]
        out: dict[Colour, list[Bucket]] = {}
        for k, (c, col) in enumerate(zip(COLOURS, cols, strict=True)):
            # the bare column of a max() aggregate comes from the row with that max: the last one
            last = {
                i: v
                for i, _t, v in self._rows(
                    f"SELECT {column} AS i, max(t), {col} {where} AND {col} IS NOT NULL GROUP BY i",
                    args,
                )
            }
            series = []
            for i in range(buckets):
                lo, hi = spread.get(i, (None,) * (2 * len(cols)))[2 * k : 2 * k + 2]
                lv = last.get(i)
                series.append(
                    Bucket(
                        start + i * width,
                        start + (i + 1) * width,
                        lo / scale if lo is not None else None,
                        hi / scale if hi is not None else None,
                        lv / scale if lv is not None else None,
                    )
                )
            out[c] = series
        return out

    def frames(
        self, svc: RecordedService, start: float | None = None, end: float | None = None
    ) -> Iterator[Frame]:
        """The recorded polls of ``svc`` in [start, end] as Frames, in time order: what the live
        console drew, rebuilt (figures, router state, alarms with their messages, the bake window,
        outside changes and the alarm events of that poll)."""
        lo, hi = _range_ms(start, end)
        events = self.events(svc, None, hi / 1000 + 1, ("alarm", "external"))
        ei = 0
        # A damaged file is read in the table's own order (session, time): its index may point
        # into the part that is lost.
        if self.damage:  # the table's own order, the range filtered here: what is left, all of it
            sql = f"SELECT {_POLL_COLUMNS} FROM polls NOT INDEXED WHERE service = ?{self._in_session} AND ? "
            sql += f"ORDER BY {self._key_order}"
            args: tuple[Any, ...] = (svc.id, 1)
        else:
            sql = f"SELECT {_POLL_COLUMNS} FROM polls WHERE service = ?{self._in_session} AND t BETWEEN ? AND ? "
            sql += "ORDER BY t"
            args = (svc.id, -1 if start is None else lo, hi)
        for row in self._rows(sql, args):
            if row[0] > hi:
                continue
            t_ms = row[0]
            at: list[Event] = []
            while ei < len(events) and events[ei].t * 1000 <= t_ms + 0.5:
                ev = events[ei]
                ei += 1
                if abs(ev.t * 1000 - t_ms) <= 0.5:
                    at.append(ev)
            if start is not None and t_ms < lo:
                continue
            yield self._frame(svc, row, at)

    def _frame(
        self,
        svc: RecordedService,
        row: tuple[Any, ...],
        at: list[Event],
    ) -> Frame:
        t_ms, mono_ms, state, rage, mage, rerr, merr, extra, alarms, bake = row[:10]
        figures = row[10:18]
        skew = self._skews.get((svc.id, row[18]))
        if skew is not None:  # schema 2: the distance from the session's wall-minus-mono offset
            mono_ms = t_ms - skew - mono_ms
        t, mono = t_ms / 1000, mono_ms / 1000
        extra_d = self._blob(extra) or {}
        metrics: dict[Colour, ColourMetrics] = {}
        for i, c in enumerate(COLOURS):
            vals = {
                k: (figures[i * 4 + j] / SCALE[k] if figures[i * 4 + j] is not None else None)
                for j, k in enumerate(METRIC_KEYS)
            }
            more = extra_d.get(c.value, {}) if isinstance(extra_d, dict) else {}
            metrics[c] = ColourMetrics(
                **vals,
                latency_stat=more.get("latency_stat", "p99"),
                notes=more.get("notes", {}),
                sources=more.get("sources", {}),
            )
        external = "; ".join(e.message for e in at if e.kind == "external") or None
        snap = Snapshot(
            service=svc.name,
            time=t,
            router=self._state(state),
            router_error=self._blob(rerr),
            router_time=mono - rage / 1000 if rage is not None else None,
            metrics=metrics,
            metrics_error=self._blob(merr),
            metrics_time=mono - mage / 1000 if mage is not None else None,
            external_change=external,
            mono=mono,
        )
        states: list[AlarmState] = []
        broken = {}
        if snap.router is not None:
            broken = {
                (f"invariant:{v.rule}", v.colour.value): v.message
                for v in invariant_breaches(snap.router)
            }
        for item in self._blob(alarms) or []:
            rule, metric, colour, level, pending, threshold, since = item[:7]
            direction = item[7] if len(item) > 7 else "above"
            c = Colour.parse(colour)
            if metric == ROUTING:
                text = broken.get((rule, colour), "")
                states.append(
                    AlarmState(
                        rule,
                        metric,
                        c,
                        Level(level),
                        None,
                        None,
                        since,
                        Level(pending),
                        f"CRITICAL {text}" if text else "",
                    )
                )
                continue
            if metric == SERVERS:
                srv = servers_breach(snap.router, c) if snap.router is not None else None
                text = srv[1] if srv is not None and srv[0] == Level(level) else ""
                states.append(
                    AlarmState(rule, metric, c, Level(level), None, None, since, Level.OK, text)
                )
                continue
            m = snap.colour_metrics(c)
            quiet = quiet_colour(m, metric)
            value = None if quiet else AlarmEngine._value(snap, metric, c)
            evidence = source = ""
            if len(item) > 10:  # firing or pending: the figure and evidence as they were shown
                value, evidence, source = item[8], str(item[9] or ""), str(item[10] or "")
            msg = alarm_message(
                metric,
                direction,
                c,
                Level(level),
                value,
                threshold,
                since,
                mono,
                "no traffic" if quiet else None,
                Level.OK if level else Level(pending),
                m.latency_stat,
            )
            label = shown_label(metric, m.latency_stat)
            states.append(
                AlarmState(
                    rule,
                    metric,
                    c,
                    Level(level),
                    value,
                    threshold,
                    since,
                    Level(pending),
                    msg,
                    evidence,
                    source,
                    label if label != metric_label(metric) else "",
                )
            )
        alarm_events = []
        for ev in at:
            if ev.kind != "alarm" or not ev.colour:
                continue
            level = Level[ev.level.upper()] if ev.level else Level.OK
            previous = str(ev.data.get("previous") or "ok").upper()
            alarm_events.append(
                AlarmEvent(
                    t,
                    AlarmState(
                        str(ev.data.get("rule") or ev.metric),
                        ev.metric or "",
                        Colour.parse(ev.colour),
                        level,
                        ev.value,
                        ev.threshold,
                        None,
                        Level.OK,
                        ev.message,
                    ),
                    Level[previous] if previous in Level.__members__ else Level.OK,
                    str(ev.data.get("reason") or ""),
                )
            )
        b = self._blob(bake)
        bake_state, last_switch = BakeState(), None
        if isinstance(b, dict):
            bake_state = BakeState(
                BakeVerdict[str(b.get("verdict", "none")).upper()],
                Colour.parse(b["colour"]) if b.get("colour") else None,
                b.get("started"),
                float(b.get("duration") or 0.0),
                str(b.get("reason") or ""),
                str(b.get("origin") or ""),
            )
            last_switch = b.get("last_switch")
        return Frame(snap, AlarmReport(tuple(states), tuple(alarm_events)), bake_state, last_switch)


def _range_ms(start: float | None, end: float | None) -> tuple[int, int]:
    return (
        int(start * 1000) if start is not None else -(2**62),
        int(end * 1000) + 1 if end is not None else 2**62,
    )


def _loads(body: str | None) -> Any:
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _state_from(data: Mapping[str, Any]) -> RouterState:
    colours = {}
    for c in COLOURS:
        d = data.get("colours", {}).get(c.value, {})
        servers = tuple(  # schema 1 kept each server's sessions; 2 does not (a router figure)
            ServerState(s[0], ServerStatus(s[1]), s[2], s[3], s[4])
            if len(s) == 5
            else ServerState(s[0], ServerStatus(s[1]), s[2], None, s[3])
            for s in d.get("servers", [])
        )
        colours[c] = ColourState(
            c,
            servers,
            bool(d.get("draining")),
            d.get("weight"),
            d.get("version"),
            None,
            d.get("detail", {}),
            bool(d.get("scale_down_pending")),
        )
    live = data.get("live")
    return RouterState(
        Colour.parse(live) if live else None,
        colours,
        data.get("fingerprint", ""),
        data.get("detail", {}),
    )
