"""The board: every service of a config (or of ``--config DIR``) on one screen.

Each service is polled on its own (its own ``Monitor`` behind its own deadline guards, on a thread
of the board's pool, re-armed when its poll returns): a hung router or Prometheus of one service
delays no other service's figures and no keystroke. Polled frames (``Polled``) wait in an inbox the
UI thread empties every ``INBOX_EVERY`` seconds; it keeps each service's last frame and history and
hands plain rows to the ``BoardTable`` widget (at most ``DRAW_EVERY`` seconds apart, so fifty
services polled each second cost a few redraws a second, not fifty).

The screens and keys are in ``console.board_screens``, the actions (the same preflight,
confirmation, read-back and audit as a service's own dashboard) in ``console.board_actions``, what
the board keeps per service in ``console.board_state``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from textual.app import App
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from backends.base import COLOURS
from backends.clock import Clock, monotonic, system_clock
from console import views
from console.actions import ActionController
from console.app import freeze_startup, release_dead_styles
from console.audit import AuditLog
from console.board_actions import BoardActions
from console.board_poll import Slot, close_slots
from console.board_screens import BoardCommands, BoardHelp, BoardScreen, ServiceScreen
from console.board_state import BoardOptions, Polled, Watched
from console.board_view import BoardRow, error_row, frame_row, ordered
from console.fmt import duration, router_notice
from console.model import Frame, Level
from console.recorder import Recorder
from console.screens import WhyScreen, push_dialog
from widgets import ActionLog, AlarmBanner, BakeTimer, ColourPanel, StatusHeader
from widgets.board_table import BoardCells, BoardTable

DRAW_EVERY = 1.0  # seconds: frames arriving redraw the board at most this often (keys: at once)
INBOX_EVERY = 0.05  # seconds: polled frames are taken by the UI this often (see _take_frames)
FIRST_DRAW = 0.05  # seconds: a service's first frame is drawn within this (the rest with it)
LOG_KEEP = 200  # lines of each service's log kept for its dashboard


# ---------------------------------------------------------------------------------------------- app


class BoardApp(BoardActions, App[None]):
    TITLE = "bluegreen"
    COMMANDS = App.COMMANDS | {BoardCommands}

    def __init__(
        self,
        slots: list[Slot],
        audit_for: Callable[[Slot], AuditLog | None],
        *,
        clock: Clock = system_clock,
        options: BoardOptions | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        super().__init__()
        self.opts = options or BoardOptions()
        self.clock = clock
        self.recorder = recorder
        self.watched: dict[str, Watched] = {}
        for slot in slots:
            w = Watched(slot)
            audit = audit_for(slot) if slot.runtime is not None else None
            if slot.runtime is not None and slot.monitor is not None and audit is not None:
                w.controller = ActionController(
                    slot.runtime,
                    audit,
                    slot.monitor.observe_action,
                    command="the console",
                    acting=slot.monitor.acting,
                )
            self.watched[slot.name] = w
        live = [w for w in self.watched.values() if w.slot.monitor is not None]
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(256, len(live))), thread_name_prefix="board-poll"
        )
        self.query_text = ""
        self._selected: str | None = None
        self.order: list[str] = []  # the names as drawn
        self._picked = False  # a key chose the selected row (else it follows the top row)
        self.notice = ""
        self._dirty = False
        self._draw_handle: asyncio.TimerHandle | None = None  # the next draw, when one is due
        self._drawn_at = 0.0
        self.sub_title = self.opts.subtitle
        self._closed = False  # unmounted: no poll is started any more
        self._help: BoardHelp | None = None
        self._why: WhyScreen | None = None
        self._inbox: list[Polled] = []  # polled frames not yet taken by the UI
        self._inbox_lock = threading.Lock()
        self._inbox_timer: Timer | None = None  # takes the frames, running while polls are out
        self._outstanding = 0  # polls submitted whose frames the UI has not taken yet

    @property
    def selected(self) -> str | None:
        """The service of the highlighted row: the top (worst) one until a row is picked."""
        return self._selected

    @selected.setter
    def selected(self, name: str | None) -> None:
        self._selected, self._picked = name, True

    def get_default_screen(self) -> Screen[Any]:
        return BoardScreen(id="_default")

    def on_mount(self) -> None:
        self.draw()
        self.set_interval(1.0, self._tick)
        self._inbox_timer = self.set_interval(INBOX_EVERY, self._take_frames, pause=True)
        if self.opts.freeze_startup:
            self.call_after_refresh(freeze_startup)  # as the console: keys free of full GCs
        if self.opts.auto_poll:
            self.poll_all()

    # ------------------------------------------------------------------ polling

    def poll_all(self) -> None:
        """Start a poll of every service whose last poll has returned."""
        for w in self.watched.values():
            self.request_poll(w)

    def request_poll(self, w: Watched) -> None:
        monitor = w.slot.monitor
        if monitor is None or w.polling or self._closed:
            return
        w.polling = True
        try:
            self._pool.submit(self._poll_one, w.name, monitor)
            self._outstanding += 1
            if self._inbox_timer is not None and self._outstanding == 1:
                self._inbox_timer.resume()  # paused while no poll is out (an idle board sleeps)
        except Exception as exc:  # e.g. no thread could be started: said on the row, tried again
            w.polling = False
            w.slot.late = f"internal error: the poll could not start: {type(exc).__name__}: {exc}"
            self._changed(w)
            interval = w.slot.runtime.config.poll_interval if w.slot.runtime else 1.0
            asyncio.get_running_loop().call_later(interval, self.request_poll, w)

    def _poll_one(self, name: str, monitor: Any) -> None:  # on a pool thread
        started = time.monotonic()
        try:
            frame, error = monitor.poll(), None
        except Exception as exc:  # a monitor bug: said on the row, the next poll tries again
            frame, error = None, f"internal error: {type(exc).__name__}: {exc}"
        polled = Polled(name, frame, error, time.monotonic() - started)
        with self._inbox_lock:  # frames wait in the inbox; the UI takes them all at once
            self._inbox.append(polled)

    def _take_frames(self) -> None:
        """Every ``INBOX_EVERY`` seconds: the frames polled since (a message, and a wake-up of the
        event loop from another thread, per frame cost a third of the UI thread at 200 services
        polled each second; most frames are drawn at most once a second anyway)."""
        with self._inbox_lock:
            batch, self._inbox = self._inbox, []
        for polled in batch:
            self._outstanding -= 1
            self._take_polled(polled)
        if self._outstanding <= 0 and self._inbox_timer is not None:
            self._inbox_timer.pause()

    def _take_polled(self, message: Polled) -> None:
        w = self.watched.get(message.name)
        if w is None:
            return
        w.polling = False
        if not self.screen_stack:  # the app is exiting: nothing to draw on
            return
        w.polls += 1
        if message.frame is not None:
            self.apply_frame(w, message.frame)
        else:
            w.slot.late = message.error
            self._changed(w)
        runtime = w.slot.runtime
        if self.opts.auto_poll and runtime is not None:
            # The next poll of this service, on the event loop's own timer: a Textual timer per
            # frame (a task and a signature inspection each) cost more than the frame at 50 services
            wait = max(0.05, runtime.config.poll_interval - message.elapsed)
            asyncio.get_running_loop().call_later(wait, self.request_poll, w)

    def apply_frame(self, w: Watched, frame: Frame) -> None:
        """A new frame of ``w``, polled or read back by an action: history, log, then a redraw."""
        if frame is w.slot.frame:
            return
        first = w.slot.frame is None
        w.slot.frame, w.slot.late = frame, None
        w.history.push(frame)
        live = frame.snapshot.live
        w.trend.append(frame.snapshot.colour_metrics(live).error_pct if live else None)
        del w.trend[:-16]
        rt = w.slot.runtime
        if self.recorder is not None and rt is not None:
            self.recorder.frame(frame, rt.router.identity)
        for event in frame.alarms.events:
            a = event.alarm
            if event.raised:
                self.log_line(w, a.level.label, a.message)
                if a.level == Level.CRITICAL:
                    self.bell()
            else:
                self.log_line(w, "ok" if not event.reason else "info", event.text)
        if frame.snapshot.external_change:
            self.log_line(w, "warning", frame.snapshot.external_change)
        self._changed(w, soon=first)

    def _changed(self, w: Watched, soon: bool = False) -> None:
        """``w`` changed: its dashboard (if open) now, the board at most ``DRAW_EVERY`` apart, or
        within ``FIRST_DRAW`` when ``soon`` (a service's first frame: the start is not held up)."""
        screen = self.screen_stack[-1] if self.screen_stack else None
        if isinstance(screen, ServiceScreen) and screen.service == w.name:
            self.draw_service(screen)
        self._dirty = True
        wait = DRAW_EVERY - (time.monotonic() - self._drawn_at)
        if soon:
            wait = min(wait, FIRST_DRAW)
        if wait <= 0:
            self.draw()
            return
        loop = asyncio.get_running_loop()
        pending = self._draw_handle
        if pending is not None and not pending.cancelled():
            if pending.when() <= loop.time() + wait:
                return  # one draw for every frame that arrives meanwhile
            pending.cancel()
        self._draw_handle = loop.call_later(wait, self._draw_if_dirty)

    def _draw_if_dirty(self) -> None:
        self._draw_handle = None
        if self._dirty and not self._closed:
            self.draw()

    def _tick(self) -> None:
        release_dead_styles()  # as the console does each poll (see console.app)
        if time.monotonic() - self._drawn_at >= DRAW_EVERY * 0.9:
            self.draw()  # ages and the bake's time left move without frames too

    # ------------------------------------------------------------------ drawing

    def rows(self) -> list[BoardRow]:
        now = monotonic(self.clock)
        out = []
        for w in self.watched.values():
            slot = w.slot
            if slot.runtime is None:
                out.append(error_row(w.name, slot.error or "not watched"))
                continue
            row = frame_row(
                w.name, slot.runtime.router.kind, slot.frame, now, w.trend, w.busy or "", slot.late
            )
            out.append(row)
        return out

    def draw(self) -> None:
        """Redraw the board (and the heading) from every service's last frame."""
        screen = next((s for s in self.screen_stack if isinstance(s, BoardScreen)), None)
        if screen is None:
            return
        try:
            table = screen.query_one(BoardTable)
        except NoMatches:
            return  # not composed yet: BoardScreen.on_mount draws (the first frames at once)
        self._dirty = False
        self._drawn_at = time.monotonic()
        rows = ordered(self.rows(), self.query_text)
        self.order = [r.name for r in rows]
        if self._selected not in self.order or not self._picked:  # until a row is picked, the
            self._selected = self.order[0] if self.order else None  # worst (the top) is selected
        stale = {w.name: self._stale_after(w) for w in self.watched.values()}
        with self.batch_update():
            table.rows = tuple(_cells(r, stale.get(r.name)) for r in rows)
            table.selected = self.order.index(self.selected) if self.selected else 0
            table.note = f"no service matches {self.query_text!r}" if self.query_text else ""
            counts = {lvl: sum(1 for r in rows if r.level == lvl) for lvl in Level}
            many = len(self.watched)
            head = (
                f"{many} service{'s' if many != 1 else ''} · {counts[Level.CRITICAL]} critical · "
            )
            head += f"{counts[Level.WARNING]} warning · "
            head += f"{sum(1 for r in rows if r.bake.startswith('baking'))} baking"
            if self.query_text:
                head += f" · filter {self.query_text!r}: {len(rows)} shown"
            if self.opts.read_only:
                head += " · READ-ONLY"
            screen.query_one("#board-head", Static).update(head)
            screen.query_one("#board-status", Static).update(self.notice)

    def _stale_after(self, w: Watched) -> float | None:
        rt = w.slot.runtime
        return rt.config.stale_after * rt.config.poll_interval if rt else None

    def draw_service(self, screen: ServiceScreen) -> None:
        w = self.watched[screen.service]
        rt = w.slot.runtime
        frame = w.slot.frame
        now = self.clock()
        if rt is None:
            return
        cfg = rt.config
        with self.batch_update():
            screen.query_one(StatusHeader).view = views.header_view(
                frame, w.name, rt.router.kind, now, self.opts.read_only, router_notice(frame)
            )
            screen.query_one(AlarmBanner).items = views.banner_items(frame)
            screen.query_one(BakeTimer).view = views.bake_view(frame, now)
            if frame is not None:
                for c in COLOURS:
                    screen.query_one(f"#panel-{c.value}", ColourPanel).view = views.panel_view(
                        frame, c, w.history, now, cfg.stale_after * cfg.poll_interval, {}
                    )

    def log_line(self, w: Watched, level: str, text: str) -> None:
        stamp = views.clock_text(self.clock())
        w.log.append((stamp, level, text))
        del w.log[:-LOG_KEEP]
        screen = self.screen_stack[-1] if self.screen_stack else None
        if isinstance(screen, ServiceScreen) and screen.service == w.name:
            screen.query_one(ActionLog).add(stamp, level, text)
        # the status line: what happened last that matters, an action's every step included
        # (a cancel left "preflight…" there)
        if level in ("error", "ok", "warning", "critical") or text.endswith(("…", "cancelled")):
            self.notice = f"{w.name}: {text}"

    # ------------------------------------------------------------------ keys

    def move(self, by: int) -> None:
        if not self.order:
            return
        i = self.order.index(self.selected) if self.selected in self.order else 0
        self.selected = self.order[min(max(0, i + by), len(self.order) - 1)]
        self.draw()

    def set_filter(self, text: str) -> None:
        self.query_text = text
        self.draw()

    def open_selected(self) -> None:
        if self.selected is not None:
            self.open_service(self.selected)

    def open_service(self, name: str) -> None:
        w = self.watched.get(name)
        if w is None:
            return
        if w.slot.runtime is None:
            self.notice = f"{name}: not watched: {w.slot.error}"
            self.draw()
            return
        self.selected = name
        if isinstance(self.screen, ServiceScreen):
            self.pop_screen()
        self.push_screen(ServiceScreen(name))

    def action_help(self) -> None:
        """The help, built once and shown again (a new dialog at every press cost a compose and
        a styling of its widgets)."""
        if self._help is None:
            self._help = BoardHelp()
            self.install_screen(self._help, name="board-help")
        if self._help not in self.screen_stack:
            self._push_dialog(self._help)

    def _push_dialog(
        self, screen: Screen[Any], answered: Callable[[Any], None] | None = None
    ) -> None:
        """Show a dialog over the board (``console.screens.push_dialog``)."""
        push_dialog(self, screen, answered)

    def why(self, name: str) -> None:
        """``w``: why each alarm of ``name`` fired (or not), and where its figures come from."""
        w = self.watched.get(name)
        if w is None:
            return
        rt, monitor = w.slot.runtime, w.slot.monitor
        if rt is None or monitor is None:
            self.notice = f"{name}: not watched: {w.slot.error}"
            self.draw()
            return
        text = views.why_for(rt, w.slot.frame, monitor.engine.rules, w.history)
        if self._why is None:
            self._why = WhyScreen(text)
            self.install_screen(self._why, name="board-why")
        else:
            self._why.show(text)
        if self._why not in self.screen_stack:
            self._push_dialog(self._why)

    def act_selected(self, action: str) -> None:
        if self.selected is not None:
            self.act(self.selected, action)

    def on_worker_state_changed(self, event: Any) -> None:
        worker = event.worker
        if worker.error is not None and worker.group == "action":
            self.notice = f"internal error: {type(worker.error).__name__}: {worker.error}"
            for w in self.watched.values():
                w.busy = None
            self.draw()

    def on_unmount(self) -> None:
        self._closed = True
        if self._draw_handle is not None:
            self._draw_handle.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.recorder is not None:
            self.recorder.close()

    def close_backends(self) -> None:
        close_slots([w.slot for w in self.watched.values()])


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f}s" if seconds < 100 else duration(seconds)


def _cells(row: BoardRow, stale_after: float | None) -> BoardCells:
    def num(v: float | None, fmt: str) -> str:
        return "—" if v is None else format(v, fmt)

    alarm = row.alarm
    if row.busy:
        alarm = f"[{row.busy}…] {alarm}".strip()
    live = row.live or ""
    weights = row.weights + (f" {row.draining[0].upper()}↓" if row.draining else "")
    return BoardCells(
        name=row.name,
        kind=row.kind,
        live=live,
        weights=weights,
        bake=row.bake,
        alarm=alarm,
        level=row.level.label,
        rate=num(row.rate, ".1f"),
        error_pct=num(row.error_pct, ".2f"),
        p99=num(row.p99, ".0f"),
        trend=row.trend,
        age=_age(row.age),
        stale=bool(stale_after is not None and row.age is not None and row.age > stale_after),
    )


def make_board(
    slots: list[Slot],
    audits: dict[str, AuditLog | None],
    *,
    clock: Clock = system_clock,
    options: BoardOptions | None = None,
    recorder: Recorder | None = None,
) -> BoardApp:
    """The board over ``slots`` (``console.board_poll.build_slots``); ``audits``: each service's
    audit log (by name). The caller closes the backends (``app.close_backends()``) after exit."""
    if recorder is not None:
        from console.recorder import service_settings

        for slot in slots:
            rt = slot.runtime
            if rt is not None:
                recorder.add_service(
                    rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config)
                )
    return BoardApp(
        slots,
        lambda s: audits.get(s.name),
        clock=clock,
        options=options,
        recorder=recorder,
    )


def run_board(
    args: Any, board: Any, subtitle: str, stage: Callable[[list[Slot]], None] | None = None
) -> int:
    """``bluegreen watch`` over several services (and ``demo --services N``): build every service
    (a broken one is a row with its error), run the board, close the backends."""
    from console import verdicts
    from console.board_poll import build_slots
    from console.cliargs import _audit_path, _recorder

    logs: dict[Any, AuditLog] = {}
    audits: dict[str, AuditLog | None] = {}

    def audit_for(entry: Any) -> AuditLog:
        path = _audit_path(args, entry.console)
        if path not in logs:
            logs[path] = AuditLog(path)
        audits[entry.name] = logs[path]
        return logs[path]

    first = board.first_console
    recorder = None
    if first is not None and not getattr(args, "no_record", False):
        recorder = _recorder(args, first, _audit_path(args, first))
    slots = build_slots(board, audit_for, verdicts.for_recorder(recorder))
    if stage is not None:
        stage(slots)
    app = make_board(
        slots,
        audits,
        options=BoardOptions(read_only=args.read_only, subtitle=subtitle),
        recorder=recorder,
    )
    try:
        app.run()
    finally:
        app.close_backends()
        if recorder is not None:
            recorder.close()
    return 0
