"""Switch, drain (or ready), roll back and shift weights from the board: the same preflight,
confirmation (twice for a failed gate or a caution), action, read-back and audit as a service's own
dashboard (``ActionController``, ``ConfirmScreen``), on the service the key was pressed for. A mixin
of ``console.board.BoardApp``: the preflight and the action run in workers, each step is logged on
the service and the board redrawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message
from textual.screen import Screen

from backends.base import BackendError, Colour
from console import views
from console.actions import Outcome, Plan, second_confirmation
from console.audit import AuditError
from console.board_state import BoardOptions, Watched
from console.gate import gated_plan
from console.screens import ConfirmScreen

if TYPE_CHECKING:
    from console.model import Frame
    from console.recorder import Recorder


class BoardActionPlanned(Message):
    def __init__(self, name: str, plan: Plan, tags: dict[str, Any]) -> None:
        super().__init__()
        self.name, self.plan, self.tags = name, plan, tags


class BoardActionFinished(Message):
    def __init__(self, name: str, action: str, outcome: Outcome | None, error: str | None) -> None:
        super().__init__()
        self.name, self.action, self.outcome, self.error = name, action, outcome, error


class BoardActions:
    """The actions of ``BoardApp`` (a mixin: what it uses of the app is declared below)."""

    watched: dict[str, Watched]
    opts: BoardOptions
    recorder: Recorder | None
    notice: str

    if TYPE_CHECKING:

        def draw(self) -> None: ...
        def log_line(self, w: Watched, level: str, text: str) -> None: ...
        def apply_frame(self, w: Watched, frame: Frame) -> None: ...
        def post_message(self, message: Message) -> bool: ...
        def call_after_refresh(self, callback: Callable[..., Any], *args: Any) -> bool: ...
        def _push_dialog(
            self, screen: Screen[Any], answered: Callable[[Any], None] | None = None
        ) -> None: ...

    def act(self, name: str, action: str) -> None:
        """``action`` (switch, drain, rollback) on the service ``name``: preflight in a worker,
        the confirmation, then the action in a worker; each step logged on the service."""
        w = self.watched.get(name)
        if w is None:
            return
        if self.opts.read_only:
            self.log_line(
                w, "warning", "read-only: actions are disabled (started with --read-only)"
            )
            self.draw()
            return
        if w.controller is None:
            self.log_line(w, "error", f"{action}: refused, {name} is not watched: {w.slot.error}")
            self.draw()
            return
        if w.busy:
            self.log_line(w, "warning", f"{action}: refused, {w.busy} is still under way")
            self.draw()
            return
        colour: Colour | None = None
        weights: dict[Colour, int] | None = None
        if action in ("more_blue", "more_green"):  # [ and ]: 10 points more to that colour
            towards = Colour.BLUE if action == "more_blue" else Colour.GREEN
            router = w.slot.frame.snapshot.router if w.slot.frame else None
            if router is None:
                self.log_line(w, "error", "weights: the router state is not known yet")
                self.draw()
                return
            action, weights = "weights", views.ten_more(router, towards)
        if action == "drain":
            router = w.slot.frame.snapshot.router if w.slot.frame else None
            colour = router.live.other if router and router.live else None
            if colour is not None and router and router.colour(colour).draining:
                action = "ready"
        w.busy = action
        self.log_line(w, "info", f"{action}: preflight…")
        self.draw()
        self._plan_worker(w, action, colour, weights)

    @work(thread=True, group="action", exit_on_error=False)
    def _plan_worker(
        self, w: Watched, action: str, colour: Colour | None, weights: dict[Colour, int] | None
    ) -> None:
        assert w.controller is not None and w.slot.runtime is not None
        try:
            plan = w.controller.plan(action, colour, weights)
        except BackendError as exc:
            self.post_message(BoardActionFinished(w.name, action, None, f"refused: {exc}"))
            return
        plan, tags = gated_plan(plan, w.slot.runtime.config.gate)
        self.post_message(BoardActionPlanned(w.name, plan, tags))

    def on_board_action_planned(self, message: BoardActionPlanned) -> None:
        w = self.watched[message.name]
        plan, tags = message.plan, message.tags

        def answered(yes: bool | Colour | None) -> None:
            # the board plans with no colour to pick: a split fleet is refused, naming `--to`
            yes = yes is True
            if yes and plan.caution:
                self._confirm_caution(w, plan, tags)
            elif yes:
                self.log_line(w, "info", f"{plan.action}: confirmed, running…")
                self._execute_worker(w, plan, tags)
            else:
                self._cancel_worker(w, plan)

        self._push_dialog(ConfirmScreen(plan), answered)

    def _confirm_caution(self, w: Watched, plan: Plan, tags: dict[str, Any]) -> None:
        second, extra, why = second_confirmation(plan, tags)

        def answered(yes: bool | None) -> None:
            if yes:
                self.log_line(w, "warning", f"{plan.action}: confirmed twice, {why}")
                self._execute_worker(w, plan, {**tags, **extra})
            else:
                self._cancel_worker(w, plan)

        self.call_after_refresh(self._push_dialog, ConfirmScreen(second), answered)

    @work(thread=True, group="action", exit_on_error=False)
    def _execute_worker(self, w: Watched, plan: Plan, tags: dict[str, Any]) -> None:
        assert w.controller is not None
        try:
            outcome = w.controller.execute(plan, tags=tags)
        except AuditError as exc:
            self.post_message(BoardActionFinished(w.name, plan.action, None, f"ran, but {exc}"))
            return
        self.post_message(BoardActionFinished(w.name, plan.action, outcome, None))

    @work(thread=True, group="action", exit_on_error=False)
    def _cancel_worker(self, w: Watched, plan: Plan) -> None:
        assert w.controller is not None
        try:
            w.controller.cancel(plan)
        except AuditError as exc:
            self.post_message(BoardActionFinished(w.name, plan.action, None, f"cancelled ({exc})"))
            return
        self.post_message(BoardActionFinished(w.name, plan.action, None, "cancelled"))

    def on_board_action_finished(self, message: BoardActionFinished) -> None:
        w = self.watched[message.name]
        w.busy = None
        out = message.outcome
        if out is None:
            level = "info" if message.error == "cancelled" else "error"
            self.log_line(w, level, f"{message.action}: {message.error}")
            self.draw()
            return
        if out.ok:
            self.log_line(w, "ok", out.message)
        else:
            self.log_line(w, "error", f"{message.action}: {out.result}: {out.message}")
        rt = w.slot.runtime
        if self.recorder is not None and rt is not None:
            self.recorder.action(
                w.name, rt.router.identity, out.audit, out.result, out.message, message.action
            )
        if out.frame is not None:
            self.apply_frame(w, out.frame)
        self.draw()
