"""The Textual application: the dashboard of one service.

Data flows one way. A thread worker runs ``Monitor.poll()`` (backends -> Snapshot -> alarms -> Frame)
and posts a ``FramePolled`` message; the handler, on the UI thread, pushes the frame into the history
and hands plain view data to the widgets. The next poll is armed only when the last one has finished,
so polls never overlap. Actions run the same way: preflight and execution in thread workers, one
confirmation dialog in between. Nothing on the UI loop waits on I/O.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from textual import work
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.signal import Signal

from backends.base import COLOURS, BackendError, Colour
from backends.clock import Clock, monotonic
from console import verdicts, views
from console.actions import ActionController, Outcome, Plan, second_confirmation
from console.audit import AuditError, AuditLog
from console.autorollback import AutoResult, AutoRollback, Countdown
from console.autorollback import run as run_auto
from console.chart import ChartScreen, memory_from
from console.fmt import router_notice
from console.gate import gated_plan
from console.model import METRIC_KEYS, BakeVerdict, Frame, Level
from console.monitor import Monitor
from console.notify import Notifications
from console.recorder import Recorder
from console.runtime import ServiceRuntime
from console.screens import (
    ConfirmScreen,
    DashboardScreen,
    HelpScreen,
    WhyScreen,
    dashboard_widgets,
    push_dialog,
)
from widgets import ActionLog, AlarmBanner, BakeTimer, ColourPanel, StatusHeader

DialogT = TypeVar("DialogT", bound=Screen[Any])
DialogResultT = TypeVar("DialogResultT")

ACTION_KEYS = ("switch", "drain", "rollback", "more_blue", "more_green", "arm", "cancel_auto")
COMPACT_BELOW = 30  # rows: under this the panels draw each metric on one row


def release_dead_styles() -> None:
    """Let the garbage collector have the rendered lines of widgets that are gone.

    Textual 8.2 memoises ``StylesCache.get_inner_outer`` (two ``Style`` objects) with an
    ``lru_cache(1024)`` on the method, so its key holds the ``StylesCache`` of every widget drawn
    lately, and with it the lines that widget last rendered (strips, segments, their caches): the keys
    and dialogs of the last ~1,000 widgets removed stay in memory, and each full garbage collection
    walks them (a third of the objects in a console open for a night, and of each collection's
    pause). Emptying the memo is safe (it is rebuilt on the next draw, two styles per widget) and cheap;
    it runs once per poll.
    """
    StylesCache.get_inner_outer.cache_clear()


_frozen = False
YOUNG = 10_000  # allocations between collections of the youngest generation (see freeze_startup)


def freeze_startup() -> None:
    """Leave what is alive once the console has started out of every later garbage collection.

    What exists then (Textual, Rich, the backends, their modules, classes and functions, the
    dashboard: about 60,000 objects) lives as long as the process, yet every full collection walked
    it with the UI loop stopped (100-250 ms with the rendered lines Textual kept of dead widgets,
    once every few dialogs: the slowest keystrokes of the soak benchmark). ``gc.freeze()`` (made for
    this) moves it out of the collector's sight; later collections walk only what was made since.
    Once per process: what a second app in the same process (the tests) makes stays collectable.

    And the youngest generation is collected every ``YOUNG`` allocations (Python: 700): the console
    makes a few thousand objects of cyclic garbage a second (workers, messages, frames), which at 700
    outlived two young collections and reached the oldest generation, so a full collection came every
    3 s (every 1.5 s at 20 polls a second), in the middle of a key press one time in ten. With 10,000
    they die young (no full collection in 80 s of the soak benchmark), for a few ms per young one.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG, *gc.get_threshold()[1:])


class FramePolled(Message):
    def __init__(self, frame: Frame, elapsed: float) -> None:
        super().__init__()
        self.frame = frame
        self.elapsed = elapsed


class ActionPlanned(Message):
    def __init__(self, plan: Plan, tags: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.tags = tags or {}  # audited with the action (the gate's result)


class ActionFinished(Message):
    def __init__(
        self, action: str, outcome: Outcome | None, error: str | None, by: str = ""
    ) -> None:
        super().__init__()
        self.action = action
        self.outcome = outcome
        self.error = error
        self.by = by  # "auto": the armed auto-rollback ran it


@dataclass
class AppOptions:
    read_only: bool = False
    notifications: Notifications | None = None  # [notify]: told every frame and action outcome
    warnings: tuple[str, ...] = ()  # said in the log at start (a [notify] that could not be set up)
    auto_poll: bool = True  # tests turn it off and call request_poll() themselves
    title: str = "bluegreen"
    subtitle: str = ""  # e.g. the demo's scenario
    freeze_startup: bool = True  # gc.freeze() once the first frame is drawn (see freeze_startup())


class BlueGreenApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "bluegreen"
    ENABLE_COMMAND_PALETTE = False  # every action is a key; the palette would be a second way in
    BINDINGS = [
        Binding("s", "switch", "Switch"),
        Binding("d", "drain", "Drain/ready"),
        Binding("r", "rollback", "Rollback"),
        Binding("left_square_bracket", "more_blue", "+blue", show=False),
        Binding("right_square_bracket", "more_green", "+green", show=False),
        Binding("a", "arm", "Arm"),
        Binding("x", "cancel_auto", "Cancel auto-rollback", show=False),
        Binding("w", "why", "Why"),
        Binding("c", "chart", "Chart"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        runtime: ServiceRuntime,
        audit: AuditLog,
        options: AppOptions | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.recorder = recorder  # every frame and action is handed to it (a queue put: no I/O)
        self._recording_warned = False
        self.audit = audit
        self.opts = options or AppOptions()
        self.clock: Clock = runtime.clock
        # One bake verdict per window, shared through the recording with every console here
        self.monitor = Monitor(runtime, audit, verdicts.for_recorder(recorder))
        self.controller = ActionController(
            runtime,
            audit,
            self.monitor.observe_action,
            command="the console",
            acting=self.monitor.acting,
        )
        self.history = views.History()
        self.frame_applied: Signal[Frame] = Signal(self, "frame_applied")  # the chart reads again
        self.frame: Frame | None = None  # the last frame applied: what the screen shows
        self.busy: str | None = None  # the action under way, if any
        self.notice = ""
        self._notice_until = 0.0
        self.polls = 0
        self._drawn_at = 0.0
        # Charts of alarmed metrics reach at least the critical threshold (the worst one of the rules).
        self._scale_floors: dict[str, float] = {}
        for rule in self.monitor.engine.rules:
            top = rule.critical if rule.critical is not None else rule.warning
            if rule.direction == "above" and top is not None:
                self._scale_floors[rule.metric] = max(top, self._scale_floors.get(rule.metric, 0.0))
        self.sub_title = self.opts.subtitle
        cfg = runtime.config
        self._dialogs: dict[str, Screen[Any]] = {}
        self._held: AbstractContextManager[None] | None = None  # see _hold_screen
        # Armed auto-rollback (console.autorollback): never in --read-only
        self.auto = AutoRollback(
            cfg.auto_rollback == "armed" and not self.opts.read_only,
            cfg.auto_rollback_countdown,
            stop_hint="x cancels",
        )
        self.notes = self.opts.notifications

    # ------------------------------------------------------------------ layout

    def get_default_screen(self) -> Screen[Any]:
        return DashboardScreen(id="_default")  # a dialog over it draws it once per change

    def compose(self) -> ComposeResult:
        yield from dashboard_widgets()

    def on_mount(self) -> None:
        self._apply_compact(self.size.height)
        self._refresh_views()
        self.log_line(
            "info",
            f"watching {self.runtime.name} on the {self.runtime.router.kind} router"
            + (" (read-only)" if self.opts.read_only else ""),
        )
        for warning in self.opts.warnings:
            self.log_line("warning", warning)
        if self.auto.armed:
            self.log_line("warning", "auto-rollback armed (the config's auto_rollback; a disarms)")
        self.set_interval(1.0, self._tick)
        if self.opts.auto_poll:
            self.request_poll()

    def on_resize(self, event: Any) -> None:
        self._apply_compact(event.size.height)

    def _apply_compact(self, height: int) -> None:
        for panel in self.query(ColourPanel):
            panel.set_class(height < COMPACT_BELOW, "-compact")

    # ------------------------------------------------------------------ polling

    def request_poll(self) -> None:
        """Start one poll, unless one is running: polls never overlap (a thread cannot be cancelled,
        so a second one would only double the chain of polls)."""
        if any(w.group == "poll" and not w.is_finished for w in self.workers):
            return
        self._poll_worker()

    @work(thread=True, group="poll", exit_on_error=False)
    def _poll_worker(self) -> None:
        started = time.monotonic()
        frame = self.monitor.poll()
        self.post_message(FramePolled(frame, time.monotonic() - started))

    def on_frame_polled(self, message: FramePolled) -> None:
        self.polls += 1
        release_dead_styles()
        self.apply_frame(message.frame)
        if self.opts.freeze_startup:
            self.call_after_refresh(freeze_startup)  # once the first frame is on the screen
        if self.opts.auto_poll:
            interval = self.runtime.config.poll_interval
            self.set_timer(max(0.05, interval - message.elapsed), self.request_poll)

    def apply_frame(self, frame: Frame) -> None:
        """Take a new frame, polled or produced by an action: history, alarm events, external
        changes, then redraw. The one way a frame reaches the screen."""
        if frame is self.frame:
            return  # already drawn: its alarms and notices must not be logged (or rung) twice
        before, self.frame = self.frame, frame
        self.history.push(frame)
        if self.recorder is not None:
            self.recorder.frame(frame, self.runtime.router.identity)
            self._check_recording()
        for event in frame.alarms.events:
            a = event.alarm
            if event.raised:
                self.log_line(a.level.label, a.message)
                if a.level == Level.CRITICAL:
                    self.bell()
            else:  # "cleared: ..." on a recovery; "... alarm ended: green has no traffic now ..."
                self.log_line("ok" if not event.reason else "info", event.text)
        adopted = frame.bake.adopted_text(before.bake if before is not None else None)
        if adopted:  # another console here decided this window first: its verdict, said so
            self.log_line("warning" if frame.bake.verdict == BakeVerdict.FAILED else "ok", adopted)
        said = self.auto.step(frame)
        if said:
            started = self.auto.countdown is not None
            self.log_line("critical" if started else "warning", said)
            if started:
                self.bell()
                self.set_timer(self.auto.delay, self._auto_due)
        self._auto_due()  # due at this frame (a countdown of 0, or frames on a manual clock)
        if self.notes is not None:
            self.notes.frame(frame)
        change = frame.snapshot.external_change
        if change:
            self.log_line("warning", change)
            # A late-applied action of ours is recorded, not someone else's change.
            late = change.endswith("took effect late; recorded")
            self.notice = (
                "an action took effect late" if late else "routing changed outside the console"
            )
            self._notice_until = frame.snapshot.time + 60
        self._refresh_views()
        self.frame_applied.publish(frame)

    def _tick(self) -> None:
        """Redraw ages and countdowns when polls stall. While frames arrive each redraws everything
        anyway, and a second redraw per poll would double the console's CPU."""
        self._check_recording()
        self._auto_due()
        if self.notes is not None:
            for line in self.notes.problems():
                self.log_line("warning", line)
        if time.monotonic() - self._drawn_at >= max(1.5, 1.5 * self.runtime.config.poll_interval):
            self._refresh_views()

    def _check_recording(self) -> None:
        """A recording that turned off (disk full, a path that cannot be written) is said once,
        loudly, at the next frame or tick: the log line with the reason and the fix, and the bell;
        the header says "recording off" from then on (beside any other notice). The console and
        its actions carry on without it."""
        rec = self.recorder
        if rec is not None and rec.problem and not self._recording_warned:
            self._recording_warned = True
            self.log_line("warning", rec.problem)
            self.bell()

    def _refresh_views(self) -> None:
        """Redraw every widget from the last frame and the clock (ages, countdowns) as one batch.
        Nothing to draw on while the dashboard is not mounted (a timer firing as the app starts or
        exits): skipped, never a traceback."""
        try:
            self._redraw()
        except NoMatches:
            return

    def _redraw(self) -> None:
        self._drawn_at = time.monotonic()
        now = self.clock()
        frame = self.frame
        cfg = self.runtime.config
        if self.notice and now > self._notice_until:
            self.notice = ""
        with self.batch_update():
            off = "recording off" if self.recorder and self.recorder.problem else ""
            notice = "; ".join(
                n for n in (self._auto_notice(), self.notice, router_notice(frame), off) if n
            )
            self.query_one(StatusHeader).view = views.header_view(
                frame, self.runtime.name, self.runtime.router.kind, now, self.opts.read_only, notice
            )
            self.query_one(AlarmBanner).items = views.banner_items(frame)
            self.query_one(BakeTimer).view = views.bake_view(frame, now)
            if frame is not None:
                stale_after = cfg.stale_after * cfg.poll_interval
                for c in COLOURS:
                    self.query_one(f"#panel-{c.value}", ColourPanel).view = views.panel_view(
                        frame, c, self.history, now, stale_after, self._scale_floors
                    )

    # ------------------------------------------------------------------ armed auto-rollback

    def _auto_notice(self) -> str:
        cd = self.auto.countdown
        if cd is not None:
            left = cd.remaining(monotonic(self.clock))
            return f"AUTO-ROLLBACK of {cd.colour} in {left:.0f}s (x cancels)"
        return "auto-rollback armed" if self.auto.armed else ""

    def action_arm(self) -> None:
        if self.opts.read_only:
            self.log_line("warning", "read-only: auto-rollback cannot be armed")
            return
        said = self.auto.disarm() if self.auto.armed else self.auto.arm()
        self.log_line("warning" if self.auto.armed else "info", said)
        self._refresh_views()

    def action_cancel_auto(self) -> None:
        said = self.auto.cancel("cancelled by the operator (x)")
        self.log_line("warning", said or "auto-rollback: no countdown to cancel")
        self._refresh_views()

    def _auto_due(self) -> None:
        cd = self.auto.due(monotonic(self.clock))
        if cd is None:
            return
        if self.busy:  # an action of the operator's is under way: it is theirs to finish
            self.log_line(
                "warning", f"auto-rollback of {cd.colour} not run: {self.busy} is under way"
            )
            return
        self.busy = "auto-rollback"
        self.log_line("critical", f"AUTO-ROLLBACK of {cd.colour}: running ({cd.cause})")
        self._auto_worker(cd)

    @work(thread=True, group="action", exit_on_error=False)
    def _auto_worker(self, cd: Countdown) -> None:
        result: AutoResult = run_auto(self.controller, cd)
        if result.outcome is None:
            self.post_message(ActionFinished("auto-rollback", None, result.message, by="auto"))
        else:
            self.post_message(ActionFinished("rollback", result.outcome, None, by="auto"))

    def log_line(self, level: str, text: str) -> None:
        try:
            log = self.query_one(ActionLog)
        except NoMatches:  # the dashboard is not mounted (the app is starting or exiting)
            return
        log.add(views.clock_text(self.clock()), level, text)

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTION_KEYS and self.opts.read_only:
            return False  # hidden from the footer; on_key explains a press
        if action in ("more_blue", "more_green") and not self.runtime.router.supports_weights:
            return False
        return True

    def on_key(self, event: Any) -> None:
        if self.opts.read_only and event.key == "a":
            self.log_line("warning", "read-only: auto-rollback cannot be armed")
            event.stop()
        elif self.opts.read_only and event.key in (
            "s",
            "d",
            "r",
            "left_square_bracket",
            "right_square_bracket",
        ):
            self.log_line("warning", "read-only: actions are disabled (started with --read-only)")
            event.stop()
        elif (
            event.key in ("left_square_bracket", "right_square_bracket")
            and not self.runtime.router.supports_weights
        ):
            # check_action hides [ and ] from the footer; a press still deserves an answer
            self.log_line(
                "warning",
                f"weights: the {self.runtime.router.kind} router has no weighted split configured"
                " ([ and ] shift traffic only on a router that splits it)",
            )
            event.stop()

    def action_switch(self) -> None:
        self._begin("switch")

    def action_drain(self) -> None:
        router = self.frame.snapshot.router if self.frame else None
        target = router.live.other if router and router.live else None
        if target is not None and router and router.colour(target).draining:
            self._begin("ready", target)  # d on a draining colour offers to ready it
        else:
            self._begin("drain", target)

    def action_rollback(self) -> None:
        self._begin("rollback")

    def action_more_blue(self) -> None:
        self._shift(Colour.BLUE)

    def action_more_green(self) -> None:
        self._shift(Colour.GREEN)

    def _shift(self, towards: Colour) -> None:
        router = self.frame.snapshot.router if self.frame else None
        if router is None:
            self.log_line("error", "weights: the router state is not known yet")
            return
        self._begin("weights", None, views.ten_more(router, towards))

    def _dialog(self, name: str, build: Callable[[], DialogT]) -> DialogT:
        """The one ``name`` dialog of this console, built (and installed) on first use and shown
        again after: a new one at every key press cost two layouts and two draws of the dashboard
        behind it, and its widgets were left to the garbage collector. Should it be open already
        (under another dialog), a new one is built, as before."""
        screen = self._dialogs.get(name)
        if screen is None:
            screen = self._dialogs[name] = build()
            self.install_screen(screen, name=f"dialog-{name}")
        elif any(screen in stack for stack in self._screen_stacks.values()):
            return build()
        return screen  # type: ignore[return-value]  # built by `build` for this name

    def _push_dialog(
        self,
        screen: Screen[DialogResultT],
        answered: Callable[[DialogResultT | None], None] | None = None,
    ) -> None:
        """Show a dialog over the dashboard (``console.screens.push_dialog``)."""
        push_dialog(self, screen, answered)

    def action_help(self) -> None:
        cfg = self.runtime.config
        screen = self._dialog(
            "help",
            lambda: HelpScreen(
                self.runtime.name,
                self.runtime.router.kind,
                str(self.audit.path),
                cfg.stale_after,
                self.opts.read_only,
            ),
        )
        screen.show()
        self._push_dialog(screen)

    def action_why(self) -> None:
        text = views.why_for(self.runtime, self.frame, self.monitor.engine.rules, self.history)
        screen = self._dialog("why", lambda: WhyScreen(text))
        screen.show(text)
        self._push_dialog(screen)

    def action_chart(self) -> None:
        """The detail chart of the worst alarming metric (error % when none fires): from the
        recording, or from the in-memory history when this session is not recorded."""
        firing = self.frame.alarms.firing if self.frame else ()
        key = next((a.metric for a in firing if a.metric in METRIC_KEYS), "error_pct")
        rec = self.recorder if self.recorder and self.recorder.problem is None else None
        self.push_screen(
            ChartScreen(
                self.runtime.name,
                self.clock,
                recording=rec.path if rec else None,
                flush=rec.flush if rec else None,
                memory=lambda: memory_from(self.history, self.monitor.engine.rules),
                frames=self.frame_applied,
                metric_key=key,
            )
        )

    def _begin(
        self, action: str, colour: Colour | None = None, weights: dict[Colour, int] | None = None
    ) -> None:
        if self.opts.read_only:
            self.log_line("warning", "read-only: actions are disabled (started with --read-only)")
            return
        if self.busy:
            self.log_line("warning", f"{action}: refused, {self.busy} is still under way")
            return
        said = self.auto.cancel(f"the operator pressed {action}")
        if said:  # an operator's own action during the countdown: theirs, not ours
            self.log_line("warning", said)
        self.busy = action
        self.log_line("info", f"{action}: preflight…")
        self._plan_worker(action, colour, weights)

    @work(thread=True, group="action", exit_on_error=False)
    def _plan_worker(
        self, action: str, colour: Colour | None, weights: dict[Colour, int] | None
    ) -> None:
        try:
            # s on a fleet whose instances disagree: the dialog asks which colour (pick=True)
            plan = self.controller.plan(action, colour, weights, pick=True)
        except BackendError as exc:
            self.post_message(ActionFinished(action, None, f"refused: {exc}"))
            return
        # The pre-switch gate on the colour about to take traffic (console.gate), in this worker:
        # its result is shown in the confirmation; a failed gate asks twice.
        plan, tags = gated_plan(plan, self.runtime.config.gate)
        self.post_message(ActionPlanned(plan, tags))

    def on_action_planned(self, message: ActionPlanned) -> None:
        plan, tags = message.plan, message.tags

        def answered(yes: bool | Colour | None) -> None:
            if isinstance(yes, Colour):  # picked for a fleet that disagrees: the ordinary switch
                self.log_line("info", f"{plan.action}: every instance to {yes}, preflight…")
                self._plan_worker(plan.action, yes, None)
            elif yes and plan.caution:
                self._confirm_caution(plan, tags)
            elif yes:
                self.log_line("info", f"{plan.action}: confirmed, running…")
                self._execute_worker(plan, tags)
            else:
                self._hold_screen()  # the dashboard and "cancelled" in one frame
                self._cancel_worker(plan)

        screen = self._dialog("confirm", lambda: ConfirmScreen(plan))
        screen.show(plan)
        self._push_dialog(screen, answered)

    def _confirm_caution(self, plan: Plan, tags: dict[str, Any]) -> None:
        """A second, explicit confirmation (draining the old colour inside its warm-rollback
        window, or switching over a failed gate): the same dialog, saying what is at stake;
        audited as such when confirmed."""
        second, extra, why = second_confirmation(plan, tags)

        def answered(yes: bool | Colour | None) -> None:
            if yes:
                self.log_line("warning", f"{plan.action}: confirmed twice, {why}")
                self._execute_worker(plan, {**tags, **extra})
            else:
                self._hold_screen()
                self._cancel_worker(plan)

        screen = self._dialog("confirm", lambda: ConfirmScreen(second))
        screen.show(second)
        self.call_after_refresh(self._push_dialog, screen, answered)

    @work(thread=True, group="action", exit_on_error=False)
    def _execute_worker(self, plan: Plan, tags: dict[str, Any]) -> None:
        try:
            outcome = self.controller.execute(plan, tags=tags)
        except AuditError as exc:
            self.post_message(ActionFinished(plan.action, None, f"ran, but {exc}"))
            return
        self.post_message(ActionFinished(plan.action, outcome, None))

    @work(thread=True, group="action", exit_on_error=False)
    def _cancel_worker(self, plan: Plan) -> None:
        try:
            self.controller.cancel(plan)
        except AuditError as exc:
            self.post_message(ActionFinished(plan.action, None, f"cancelled ({exc})"))
            return
        self.post_message(ActionFinished(plan.action, None, "cancelled"))

    HOLD = 0.1  # seconds: the longest a cancelled dialog stays drawn (see _hold_screen)

    def _hold_screen(self) -> None:
        """Draw nothing until the action under way says how it ended, for at most ``HOLD``.

        A declined confirmation is recorded in a thread (the audit write) in 1-5 ms; meanwhile
        Textual drew the dashboard back as the dialog closed, then, a frame later (its frames
        are at least 1/60 s apart), the same dashboard with "cancelled" in the log: two frames
        and a wait for the operator's key, where one frame is what they are shown."""
        if self._held is None:
            self._held = self.batch_update()
            self._held.__enter__()
            self.set_timer(self.HOLD, self._release_screen)

    def _release_screen(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)
            self.screen.check_idle()  # draw what waited

    def on_action_finished(self, message: ActionFinished) -> None:
        self._release_screen()
        self.busy = None
        out = message.outcome
        if out is None:
            level = "info" if message.error == "cancelled" else "error"
            if message.by == "auto":  # refused: said loudly, never retried
                self.log_line("error", str(message.error))
                self.bell()
                if self.notes is not None:
                    self.notes.action(False, "refused", str(message.error), "auto")
                return
            self.log_line(level, f"{message.action}: {message.error}")
            return
        if self.notes is not None:
            self.notes.action(out.ok, out.result, out.message, message.by)
        auto = "AUTO-ROLLBACK: " if message.by == "auto" else ""
        if out.ok:
            self.log_line("ok", f"{auto}{out.message}")
        else:
            self.log_line("error", f"{auto}{message.action}: {out.result}: {out.message}")
            if auto:
                self.bell()
        if self.recorder is not None:
            self.recorder.action(
                self.runtime.name,
                self.runtime.router.identity,
                out.audit,
                out.result,
                out.message,
                message.action,
            )
        if out.frame is not None:
            self.apply_frame(out.frame)

    def on_worker_state_changed(self, event: Any) -> None:
        """A worker that died with an unexpected exception: say so instead of a traceback."""
        worker = event.worker
        if worker.error is not None:
            self.log_line(
                "error",
                f"internal error in {worker.group}: {type(worker.error).__name__}: {worker.error}",
            )
            if worker.group == "action":
                self._release_screen()
                self.busy = None
            elif worker.group == "poll" and self.opts.auto_poll:
                self.set_timer(self.runtime.config.poll_interval, self.request_poll)

    def on_unmount(self) -> None:
        if self.notes is not None:
            self.notes.close()
        self.monitor.close()
        if self.recorder is not None:
            self.recorder.close()
