"""``bluegreen replay``: the dashboard again, fed by a recording instead of the backends.

The same app (``console.app.BlueGreenApp``), the same widgets and the same ``apply_frame``: only the
source of the frames differs. ``ReplayApp`` builds the app on a stand-in runtime (the recorded
service's name, router kind and alarm rules; a router that reads nothing and refuses every action)
with automatic polling off, so no Monitor ever polls, and a replay driver applies the recorded
Frames (``Recording.frames()``) at the chosen speed.

Reading the recording happens in thread workers, never on the UI loop: first the poll times and the
events (small), then the frames in chunks around the cursor, so a 24-hour recording opens as fast as
a short one. The clock of the app is the replay clock: the recorded time of the frame on screen, so
"switched 2m ago", the panels' ages, the bake countdown and the log's times are those of the
recording, never today's.

Keys: space pauses / resumes, left / right step one poll (stepping back rebuilds the sparklines'
history and the action log from the recording), ``n`` / ``p`` jump to the next / previous event (an
alarm, an action, a bake verdict, an outside change), ``+`` / ``-`` change the speed (1x to 60x).
Every action key is refused, as under ``--read-only``.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from textual import work
from textual.binding import Binding
from textual.markup import escape
from textual.message import Message

from backends.base import (
    BackendContext,
    Colour,
    Router,
    RouterState,
    Unsupported,
)
from backends.clock import Clock
from console import views
from console.app import AppOptions, BlueGreenApp
from console.audit import AuditLog
from console.chart import ChartScreen, memory_from
from console.config import DEFAULT_ALARMS, ServiceConfig
from console.fmt import duration
from console.model import METRIC_KEYS, Frame, metric_label
from console.recorder import RecordingError, ServiceInfo, default_path
from console.recording import Event, RecordedService, Recording
from console.runtime import ServiceRuntime
from console.screens import HelpScreen, WhyScreen
from widgets import ActionLog, StatusHeader
from widgets.action_log import KEEP

__all__ = [
    "SPEEDS",
    "ReplayApp",
    "ReplayClock",
    "latest_recording",
    "parse_from",
    "recorded_runtime",
]

SPEEDS = (1, 2, 5, 10, 30, 60)
CHUNK = 600  # frames read per load beyond the cursor (10 minutes at 1 s polls)
FIRST = 30  # frames read beyond the first one shown, before it is: the rest follows in chunks
TICK = 0.1  # seconds between two steps of playback
JUMP_KINDS = ("alarm", "action", "external", "bake")  # a bake counts once decided (its verdict)
FRAME_KINDS = ("alarm", "external")  # logged by apply_frame from the frame, as when live
ACTION_KEYS = ("s", "d", "r", "left_square_bracket", "right_square_bracket")
REFUSAL = "replay: actions are disabled (this is a recording: nothing here reaches a router)"


# ---------------------------------------------------------------------------------------- pieces


class ReplayClock:
    """The replay's clock: the recorded wall time of the frame on screen."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class RecordedRouter(Router):
    """The router of a recording: it reads nothing and refuses every action (a replay moves no
    traffic). Only its kind and identity are used, for the header and the help."""

    _identity = "recorded"

    def state(self) -> RouterState:
        raise Unsupported("a replay reads no router")

    def switch(self, to: Colour) -> RouterState:
        raise Unsupported("a replay moves no traffic")

    def drain(self, colour: Colour) -> RouterState:
        raise Unsupported("a replay moves no traffic")

    def ready(self, colour: Colour) -> RouterState:
        raise Unsupported("a replay moves no traffic")

    @property
    def identity(self) -> str:
        return self._identity


def _rules(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded alarm rules as a config's ``alarms`` table: the defaults the recorded console
    did not use are turned off (the recording keeps only the rules that were on)."""
    alarms: dict[str, Any] = {name: {"enabled": False} for name in DEFAULT_ALARMS}
    for r in settings.get("rules") or []:
        if not isinstance(r, Mapping) or not r.get("name"):
            continue
        rule = {
            k: r[k]
            for k in (
                "metric",
                "direction",
                "warning",
                "critical",
                "for",
                "colours",
                "decide",
                "confidence",
                "for_requests",
                "clear_for",
            )
            if r.get(k) is not None
        }
        if "decide" not in r:
            rule["decide"] = "sustain"  # recorded before rules decided by evidence (issue 11)
        alarms[str(r["name"])] = {**rule, "enabled": True}
    return alarms


def recorded_runtime(info: ServiceInfo, clock: Clock) -> ServiceRuntime:
    """A stand-in for the recorded service's backends: its name, router kind and identity, its poll
    interval, bake window and alarm rules as recorded; no backend that could be read or changed."""
    s = info.settings
    base: dict[str, Any] = {"name": info.name, "router": {"kind": info.router_kind or "?"}}
    for key in ("poll_interval", "bake_seconds", "stale_after"):
        if isinstance(s.get(key), int | float):
            base[key] = s[key]
    try:
        config = ServiceConfig.model_validate({**base, "alarms": _rules(s)})
    except ValueError:  # rules this version cannot read: the frames still carry the alarms
        try:
            config = ServiceConfig.model_validate({**base, "alarms": _rules({})})
        except ValueError:
            config = ServiceConfig.model_validate(
                {"name": info.name or "?", "router": {"kind": "?"}, "alarms": _rules({})}
            )
    cls = type("RecordedRouter", (RecordedRouter,), {"kind": config.router.kind})
    router = cls({}, BackendContext(service=config.name, clock=clock, timeout=1.0))
    router._identity = info.router_identity or config.router.kind
    return ServiceRuntime(config, router, None, clock)


def latest_recording(directory: Path | None = None) -> Path:
    """The most recently written recording of the default directory (``bluegreen replay`` without
    a FILE).

    Raises:
        RecordingError: the directory holds no recording.
    """
    directory = directory or default_path(None).parent
    found = (
        sorted(directory.glob("*.sqlite"), key=lambda p: p.stat().st_mtime)
        if directory.is_dir()
        else []
    )
    if not found:
        raise RecordingError(
            f"no recording in {directory}; give a FILE (`bluegreen demo` and `watch` record there)"
        )
    return found[-1]


_RELATIVE = re.compile(r"^\+((?:\d+(?:\.\d+)?[hms])+)$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_from(text: str, first: float, last: float) -> float:
    """``--from``: an ISO time (``2026-01-01T12:03:00``, local time unless it names a zone),
    ``HH:MM[:SS]`` in local time on the day the recording starts (the next day when that falls
    before its start and the recording runs past midnight), or ``+5m`` / ``+90s`` / ``+1h30m`` from
    its start.

    Raises:
        ValueError: a form none of these, or a time outside the recording (the message says why).
    """
    text = text.strip()
    rel = _RELATIVE.match(text)
    clk = _CLOCK.match(text)
    if rel:
        secs = sum(
            float(n) * {"h": 3600, "m": 60, "s": 1}[u]
            for n, u in re.findall(r"(\d+(?:\.\d+)?)([hms])", rel.group(1))
        )
        t = first + secs
    elif clk:
        h, m, s = int(clk.group(1)), int(clk.group(2)), int(clk.group(3) or 0)
        if h > 23 or m > 59 or s > 59:
            raise ValueError(f"--from {text}: not a time of day (HH:MM or HH:MM:SS)")
        day = datetime.fromtimestamp(first).replace(hour=h, minute=m, second=s, microsecond=0)
        t = day.timestamp()
        if t < math.floor(first) and (day + timedelta(days=1)).timestamp() <= last:
            t = (day + timedelta(days=1)).timestamp()
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"--from {text}: say an ISO time (2026-01-01T12:03:00), a time of day (12:03 or "
                "12:03:30, local time) or a time from the start (+5m, +90s, +1h30m)"
            ) from None
        t = when.timestamp()
    if t < math.floor(first) or t > last + 1:
        raise ValueError(
            f"--from {text}: outside the recording, which runs from {_stamp(first)} to "
            f"{_stamp(last)} (local time)"
        )
    return max(t, first)


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _ms(t: float) -> int:
    return round(t * 1000)


def event_line(ev: Event) -> tuple[str, str]:
    """An event as the live console logged it: (level, text)."""
    data = ev.data or {}
    if ev.kind == "alarm":
        if data.get("change") == "cleared":
            return "ok", f"cleared: {ev.colour} {metric_label(ev.metric or '')} back to {ev.level}"
        return (ev.level if ev.level in ("warning", "critical") else "warning"), ev.message
    if ev.kind == "external":
        return "warning", ev.message
    if ev.kind == "action":
        who = f" (by {data['operator']})" if data.get("operator") else ""
        if ev.level == "ok":
            return "ok", f"{ev.message}{who}"
        return "error", f"{data.get('action', 'action')}: {ev.level}: {ev.message}{who}"
    if ev.kind == "bake":
        if ev.level == "failed":
            return "critical", ev.message
        return ("ok" if ev.level == "passed" else "info"), ev.message
    if ev.kind == "error":
        return ("ok" if data.get("recovered") else "error"), ev.message
    return "info", ev.message


def _rank(ev: Event) -> int:
    """The order of a poll's events in the log: the action that led to it, then what the frame
    shows (its alarms, an outside change), then what follows from it (a bake verdict, a recovery)."""
    return 0 if ev.kind == "action" else 1 if ev.kind in FRAME_KINDS else 2


def _is_stop(ev: Event) -> bool:
    if ev.kind not in JUMP_KINDS:
        return False
    return ev.kind != "bake" or ev.level in ("passed", "failed")


# ---------------------------------------------------------------------------------------- messages


class ReplayIndexed(Message):
    def __init__(
        self,
        times: list[float],
        ms: list[int],
        events: list[Event],
        audit: str,
        damage: str | None,
        start: int,
        frames: dict[int, Frame],
        error: str | None,
    ) -> None:
        super().__init__()
        self.times, self.ms, self.events, self.audit = times, ms, events, audit
        self.damage, self.start, self.frames, self.error = damage, start, frames, error


class ReplayLoaded(Message):
    def __init__(self, frames: dict[int, Frame], damage: str | None, error: str | None) -> None:
        super().__init__()
        self.frames, self.damage, self.error = frames, damage, error


# ---------------------------------------------------------------------------------------- the app


class ReplayApp(BlueGreenApp):
    """The console's dashboard on a recording. Build it with an open ``Recording`` and one of its
    services; it closes neither (the caller does, after ``run()``)."""

    BINDINGS = [
        Binding("space", "toggle_play", "Play/pause"),
        Binding("left", "step(-1)", "Back", priority=True),
        Binding("right", "step(1)", "Step", priority=True),
        Binding("n", "jump(1)", "Next event"),
        Binding("p", "jump(-1)", "Prev event"),
        Binding("plus,equals_sign", "speed(1)", "Faster", show=False),
        Binding("minus", "speed(-1)", "Slower", show=False),
    ]

    def __init__(
        self,
        recording: Recording,
        service: RecordedService,
        *,
        start: float | None = None,
        speed: float = 1,
        play: bool = True,
    ) -> None:
        self.replay_clock = ReplayClock(service.first or 0.0)
        runtime = recorded_runtime(service.info, self.replay_clock)
        # Never written: every action is refused before it could reach the audit log.
        audit = AuditLog(os.devnull, self.replay_clock)
        subtitle = f"replay · {recording.path.name}"
        super().__init__(
            runtime,
            audit,
            AppOptions(
                read_only=True, auto_poll=False, title="bluegreen replay", subtitle=subtitle
            ),
        )
        self.recording = recording
        self.service = service
        self.speed = float(speed)
        self.playing = play
        self._start = start
        self._lock = threading.Lock()  # one reader of the recording at a time (the worker threads)
        self.times: list[float] = []
        self._ms: list[int] = []
        self.events: list[Event] = []
        self._event_at: list[int] = []  # the poll index each event belongs to
        self.stops: list[int] = []  # poll indexes one can jump to (n / p)
        self._frames: dict[int, Frame] = {}
        self.cursor = -1  # the index of the poll on screen (-1: none yet)
        self._want: int | None = None  # a seek waiting for its frames
        self._tried: int | None = None  # a seek whose frames were read once already
        self._loading = False
        self._pos = 0.0  # the playback position, in recorded time
        self._last_tick = time.monotonic()
        self._audit_text = "(not recorded)"
        self._damage: str | None = recording.damage
        self._ended = False

    # ------------------------------------------------------------------ loading

    def on_mount(self) -> None:
        self.set_interval(TICK, self._play_tick)
        self._index_worker()

    @work(thread=True, group="replay-load", exit_on_error=False)
    def _index_worker(self) -> None:
        """The poll times and the events (small), and the frames the first screen needs: one
        message, so the first frame is drawn as soon as they are read."""
        with self._lock:
            rec, svc = self.recording, self.service
            times = rec.times(svc)
            events = rec.events(svc)
            audits = [str(s["audit_log"]) for s in rec.sessions() if s.get("audit_log")]
        ms = [_ms(t) for t in times]
        start = 0
        if self._start is not None and times:
            start = min(len(times) - 1, bisect.bisect_left(times, self._start - 0.0005))
        frames: dict[int, Frame] = {}
        error = None
        if times:
            lo = max(0, start - views.HISTORY + 1)
            frames, error = self._read(times, ms, lo, min(len(times) - 1, start + FIRST))
        self.post_message(
            ReplayIndexed(
                times, ms, events, audits[-1] if audits else "", rec.damage, start, frames, error
            )
        )

    def on_replay_indexed(self, message: ReplayIndexed) -> None:
        self.times = message.times
        self._ms = message.ms
        self._frames.update(message.frames)
        if message.error:
            self.log_line("error", message.error)
        if message.audit:
            self._audit_text = message.audit
        self._note_damage(message.damage)
        n = len(self.times)
        at: list[int] = []
        for ev in message.events:
            m = _ms(ev.t)
            if ev.kind == "action" or (ev.kind == "bake" and not ev.level):
                # an action (and the bake its switch starts) belongs to its read-back, which may
                # be recorded up to a millisecond after it
                i = bisect.bisect_right(self._ms, m + 1) - 1
            else:
                i = bisect.bisect_left(self._ms, m)
            at.append(min(max(i, 0), n - 1))
        order = sorted(
            range(len(message.events)),
            key=lambda k: (at[k], _rank(message.events[k]), message.events[k].t),
        )
        self.events = [message.events[k] for k in order]
        self._event_at = [at[k] for k in order]
        self.stops = sorted(
            {a for a, ev in zip(self._event_at, self.events, strict=True) if _is_stop(ev)}
        )
        if not n:
            self.log_line(
                "error", f"{self.recording.path}: no polls of {self.service.name} to replay"
            )
            return
        self._seek(message.start)

    def _load(self, lo: int, hi: int) -> bool:
        """Read polls ``lo`` to ``hi`` (from the first one missing) in a worker; False when a load
        is already under way (its handler looks again) or nothing is missing."""
        if self._loading or not self.times:
            return False
        lo, hi = max(0, lo), min(len(self.times) - 1, hi)
        while lo <= hi and lo in self._frames:
            lo += 1  # only what is missing
        if lo > hi:
            return False
        self._loading = True
        self._frames_worker(lo, hi)
        return True

    @work(thread=True, group="replay-load", exit_on_error=False)
    def _frames_worker(self, lo: int, hi: int) -> None:
        got, error = self._read(self.times, self._ms, lo, hi)
        self.post_message(ReplayLoaded(got, self.recording.damage, error))

    def _read(
        self, times: list[float], ms: list[int], lo: int, hi: int
    ) -> tuple[dict[int, Frame], str | None]:
        """Polls ``lo`` to ``hi`` of the recording as Frames, by index (in a worker thread)."""
        index = {m: i for i, m in enumerate(ms[lo : hi + 1], lo)}
        got: dict[int, Frame] = {}
        error = None
        with self._lock:
            try:
                for frame in self.recording.frames(self.service, times[lo], times[hi]):
                    i = index.get(_ms(frame.snapshot.time))
                    if i is not None:
                        got[i] = frame
            except Exception as exc:  # a recording this version misreads: say so, keep the rest
                error = f"{self.recording.path}: cannot read a poll: {type(exc).__name__}: {exc}"
        # A poll the file lost (damage) is stood in for by the one before it, so the cursor moves on.
        for i in range(lo, hi + 1):
            if i not in got and i - 1 in got:
                got[i] = got[i - 1]
        return got, error

    def on_replay_loaded(self, message: ReplayLoaded) -> None:
        self._loading = False
        self._frames.update(message.frames)
        self._note_damage(message.damage)
        if message.error:
            self.log_line("error", message.error)
        if self._want is not None:
            self._seek(self._want)

    def _note_damage(self, damage: str | None) -> None:
        if damage:
            self._damage = damage
        if self._damage:
            self.notice = "damaged recording: replaying what is readable"
            self._notice_until = math.inf

    def _evict(self) -> None:
        if len(self._frames) <= 3 * CHUNK + views.HISTORY:
            return
        keep_lo, keep_hi = self.cursor - views.HISTORY - CHUNK, self.cursor + 2 * CHUNK
        for i in [i for i in self._frames if i < keep_lo or i > keep_hi]:
            del self._frames[i]

    # ------------------------------------------------------------------ moving

    def _seek(self, index: int) -> None:
        """Show poll ``index`` as the live console did at that moment: the sparklines' history and
        the action log rebuilt from the recording up to it (loading the frames first if needed)."""
        lo = max(0, index - views.HISTORY + 1)
        missing = [i for i in range(lo, index + 1) if i not in self._frames]
        if missing and self._tried != index:
            self._want = index
            if self._load(missing[0], index + CHUNK):
                self._tried = index  # read once: what is still missing then cannot be read
            self._refresh_views()
            return
        self._want = self._tried = None
        if index not in self._frames:  # unreadable: the nearest poll before it that could be read
            readable = [i for i in self._frames if i <= index]
            if not readable:
                self.log_line("error", "this part of the recording cannot be read")
                self._refresh_views()
                return
            index, lo = max(readable), max(0, max(readable) - views.HISTORY + 1)
        self.replay_clock.t = self.times[index]
        self.history = views.History()
        for i in range(lo, index):
            if i in self._frames:
                self.history.push(self._frames[i])
        self.frame = None
        if not self._damage:
            self.notice = ""
        log = self.query_one(ActionLog)
        with self.batch_update():
            log.clear()
            self._log_intro()
            end = bisect.bisect_left(self._event_at, index)
            for k in range(max(0, end - KEEP), end):
                self._log_event(self.events[k])
            self.cursor = index
            self._pos = self.times[index]
            self._ended = False
            self._apply(index)
        self._evict()
        self._load(index + 1, index + CHUNK)

    def _advance(self, target: int) -> None:
        """Play forward to poll ``target`` (loaded): each poll in between is applied in turn, its
        events logged as they happened."""
        while self.cursor < target:
            self.cursor += 1
            self._apply(self.cursor)
        self._evict()
        if self.cursor + CHUNK // 2 >= max(self._frames, default=0):
            self._load(self.cursor + 1, self.cursor + CHUNK)

    def _apply(self, i: int) -> None:
        """Poll ``i`` on screen, through the live path (``apply_frame``), with the events of that
        poll the frame does not carry logged around it at their recorded times."""
        self.replay_clock.t = self.times[i]
        lo, hi = bisect.bisect_left(self._event_at, i), bisect.bisect_right(self._event_at, i)
        at = self.events[lo:hi]
        for ev in at:
            if _rank(ev) == 0:
                self._log_event(ev)
        frame = self._frames.get(i)
        if frame is not None:  # None: a poll the file lost, passed over
            self.apply_frame(frame)
        for ev in at:
            if _rank(ev) == 2:
                self._log_event(ev)

    def _play_tick(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = min(1.0, now - self._last_tick), now
        if not self.playing or self._want is not None or self.cursor < 0:
            return
        n = len(self.times)
        if self.cursor >= n - 1:
            self._end()
            return
        self._pos += dt * self.speed
        target = bisect.bisect_right(self.times, self._pos, lo=self.cursor) - 1
        nxt = self.times[self.cursor + 1]
        interval = self.runtime.config.poll_interval
        gap = max(10.0, 5 * interval)
        silent = nxt - self.times[self.cursor] > gap
        if target <= self.cursor and silent and self._pos >= self.times[self.cursor] + 2 * interval:
            # Nothing was recorded for a while (no console ran): skip the silence, say so.
            quiet = duration(nxt - self.times[self.cursor])
            self.log_line("info", f"no polls for {quiet} (no console was recording)")
            self._pos, target = nxt, self.cursor + 1
        while target > self.cursor and target not in self._frames:
            target -= 1
        if target > self.cursor:
            with self.batch_update():
                self._advance(target)
        elif self.cursor + 1 not in self._frames:
            self._load(self.cursor + 1, self.cursor + CHUNK)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self.playing = False
            self.log_line("info", "end of the recording (← p to go back)")
            self._refresh_views()

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_play", "step", "jump", "speed"):
            return len(self.screen_stack) <= 1  # not under the help or the why page
        if action in ("arm", "cancel_auto"):
            return False  # a replay moves no traffic: nothing to arm
        return super().check_action(action, parameters)

    def on_key(self, event: Any) -> None:
        if event.key in ACTION_KEYS:
            self.log_line("warning", REFUSAL)
            event.stop()
            event.prevent_default()  # the live app's own answer (read-only) is not this one

    def action_toggle_play(self) -> None:
        if not self.playing and self.cursor >= len(self.times) - 1:
            self.log_line("info", "end of the recording (← p to go back)")
            return
        self.playing = not self.playing
        self._last_tick = time.monotonic()
        self._refresh_views()

    def _base(self) -> int:
        return self._want if self._want is not None else self.cursor

    def action_step(self, delta: int) -> None:
        self.playing = False
        i = self._base() + delta
        if not self.times or i < 0 or i >= len(self.times):
            self.log_line("info", "start of the recording" if i < 0 else "end of the recording")
            self._refresh_views()
            return
        if delta == 1 and self._want is None and i in self._frames:
            self._advance(i)
            self._pos = self.times[i]
            self._refresh_views()
        else:
            self._seek(i)

    def action_jump(self, direction: int) -> None:
        self.playing = False
        base = self._base()
        if direction > 0:
            k = bisect.bisect_right(self.stops, base)
            target = self.stops[k] if k < len(self.stops) else None
        else:
            k = bisect.bisect_left(self.stops, base) - 1
            target = self.stops[k] if k >= 0 else None
        if target is None:
            word = "next" if direction > 0 else "previous"
            self.log_line("info", f"no {word} event in the recording")
            self._refresh_views()
            return
        if (
            direction > 0
            and self._want is None
            and all(i in self._frames for i in range(self.cursor + 1, target + 1))
        ):
            self._advance(target)  # forward: the log keeps what it showed, as in playback
            self._pos = self.times[target]
            self._refresh_views()
        else:
            self._seek(target)

    def action_speed(self, direction: int) -> None:
        if direction > 0:
            faster = [s for s in SPEEDS if s > self.speed]
            self.speed = float(faster[0] if faster else SPEEDS[-1])
        else:
            slower = [s for s in SPEEDS if s < self.speed]
            self.speed = float(slower[-1] if slower else SPEEDS[0])
        self._refresh_views()

    def action_help(self) -> None:
        self.push_screen(
            HelpScreen(
                self.runtime.name,
                self.runtime.router.kind,
                self._audit_text,
                self.runtime.config.stale_after,
                True,
                replay=escape(str(self.recording.path)),
            )
        )

    def action_chart(self) -> None:
        """The detail chart, read from the recording being replayed, up to the recorded time on
        screen (the live console's chart, on the replay's clock)."""
        firing = self.frame.alarms.firing if self.frame else ()
        key = next((a.metric for a in firing if a.metric in METRIC_KEYS), "error_pct")
        self.push_screen(
            ChartScreen(
                self.runtime.name,
                self.clock,
                recording=self.recording.path,
                memory=lambda: memory_from(self.history, self.monitor.engine.rules),
                frames=self.frame_applied,
                metric_key=key,
            )
        )

    def action_why(self) -> None:
        kind = self.service.info.settings.get("metrics_kind")
        source = (
            f"{kind} metrics (as recorded)"
            if kind
            else f"the {self.runtime.router.kind} router's own figures (as recorded)"
        )
        rules = self.monitor.engine.rules
        self.push_screen(WhyScreen(views.why_text(self.frame, rules, {}, source, self.history)))

    # ------------------------------------------------------------------ drawing

    @property
    def mode_text(self) -> str:
        """The header's badge: ``REPLAY ▶ 5x``, ``REPLAY ❚❚ 5x``, ``REPLAY ■ end``."""
        if self.cursor < 0:
            state = "loading…"
        elif self.playing:
            state = f"▶ {self.speed:g}x"
        elif self.cursor >= len(self.times) - 1:
            state = "■ end"
        else:
            state = f"❚❚ {self.speed:g}x"
        return f"REPLAY {state}"

    def _refresh_views(self) -> None:
        super()._refresh_views()
        header = self.query_one(StatusHeader)
        t = self.replay_clock.t
        stamp = datetime.fromtimestamp(t).strftime("%d %b %H:%M:%S") if t else ""
        header.view = replace(header.view, replay=self.mode_text, clock=stamp)

    def _log_intro(self) -> None:
        svc = self.service
        span = ""
        if svc.first is not None and svc.last is not None:
            span = f", {_stamp(svc.first)} → {datetime.fromtimestamp(svc.last):%H:%M:%S}"
        self.query_one(ActionLog).add(
            "replay  ",
            "info",
            f"{svc.name} · {self.runtime.router.kind} · {len(self.times)} polls{span} · ? keys",
        )
        if self._damage:
            self.query_one(ActionLog).add("replay  ", "warning", self._damage)

    def _log_event(self, ev: Event) -> None:
        level, text = event_line(ev)
        self.query_one(ActionLog).add(views.clock_text(ev.t), level, text)
