"""Armed auto-rollback: when a critical alarm fires on the colour being baked, inside its bake window,
count down and then roll back, unless someone cancels. Pure: it decides; the console (a worker) or
``bluegreen bake`` runs the ordinary rollback (preflight, read-back, audit with ``"by": "auto"``).

The rules, each a promise to the operator:

* off by default (``auto_rollback = "armed"`` in the service's config, or the arm key);
* it acts only on a critical alarm on the baked colour (not a routing invariant: rolling back does
  not mend a drained router), while that colour is live, inside its bake window;
* it shows a countdown (``auto_rollback_countdown``, default 5 s, 0 allowed) that the cancel key,
  an operator's own action, disarming, or the live colour changing under it (someone else acted)
  cancels, with the reason said;
* it fires at most once per bake window, whatever happens after: a rollback that fails is said
  loudly and never retried in a loop.

Time is the frames' monotonic reading, as everywhere in the alarms and the bake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from backends.base import BackendError, Colour
from console.audit import AuditError
from console.model import Frame, Level

if TYPE_CHECKING:
    from console.actions import ActionController, Outcome

DEFAULT_COUNTDOWN = 5.0


@dataclass(frozen=True)
class Countdown:
    """A rollback waiting to happen: of ``colour`` (back to the other one), at ``due`` (monotonic),
    because of ``cause`` (the alarm's message)."""

    colour: Colour
    window: tuple[Colour, float]
    due: float
    cause: str

    def remaining(self, now: float) -> float:
        return max(0.0, self.due - now)


@dataclass(frozen=True)
class AutoView:
    """What the header and the banner show: armed or not, and a countdown if one runs."""

    armed: bool
    countdown: Countdown | None = None
    note: str = ""  # the last thing it did or refused to do, for the log ("cancelled: ...")


class AutoRollback:
    def __init__(
        self,
        armed: bool = False,
        countdown: float = DEFAULT_COUNTDOWN,
        stop_hint: str = "press the cancel key to stop it",
    ) -> None:
        self.stop_hint = stop_hint  # how to stop a countdown where it runs (the headless bake: ^C)
        self.armed = armed
        self.delay = max(0.0, countdown)
        self._countdown: Countdown | None = None
        self._spent: set[tuple[Colour, float]] = set()  # windows it fired (or was cancelled) in
        self.note = ""

    @property
    def countdown(self) -> Countdown | None:
        return self._countdown

    def view(self) -> AutoView:
        return AutoView(self.armed, self._countdown, self.note)

    def arm(self) -> str:
        self.armed = True
        self.note = "auto-rollback armed"
        return self.note

    def disarm(self) -> str:
        self.armed = False
        said = self.cancel("auto-rollback disarmed") if self._countdown else ""
        self.note = said or "auto-rollback disarmed"
        return self.note

    def cancel(self, reason: str) -> str:
        """Stop a running countdown (the window stays spent: no second countdown in it). Returns
        the log's line, or "" when nothing was counting down."""
        cd = self._countdown
        if cd is None:
            return ""
        self._countdown = None
        self.note = f"auto-rollback of {cd.colour} cancelled: {reason}"
        return self.note

    def step(self, frame: Frame) -> str:
        """Look at an applied frame. Starts a countdown when the rules say so; cancels one whose
        window is gone. Returns a line for the log when something started or stopped, else ""."""
        now = frame.snapshot.mono_time
        bake = frame.bake
        colour, started = bake.colour, bake.started
        window = (colour, started) if colour is not None and started is not None else None
        cd = self._countdown
        if cd is not None:
            live = frame.snapshot.live
            if window != cd.window or (live is not None and live != cd.colour):
                return self.cancel(
                    f"the live colour is {live or 'unknown'} now: someone acted before it did"
                )
            return ""
        if not self.armed or colour is None or started is None or (colour, started) in self._spent:
            return ""
        if frame.snapshot.live != colour:
            return ""
        if now > started + bake.duration:
            return ""  # the window is over: a later alarm is the on-call's call, not ours
        critical = [
            a
            for a in frame.alarms.firing
            if a.level == Level.CRITICAL and a.colour == colour and not a.invariant
        ]
        if not critical:
            return ""
        cause = critical[0].message
        self._spent.add((colour, started))
        self._countdown = Countdown(colour, (colour, started), now + self.delay, cause)
        self.note = f"AUTO-ROLLBACK of {colour} in {self.delay:.0f} s ({self.stop_hint}): {cause}"
        return self.note

    def due(self, now: float) -> Countdown | None:
        """The countdown, once, when it has run out (the caller runs the rollback now)."""
        cd = self._countdown
        if cd is None or now < cd.due:
            return None
        self._countdown = None
        return cd


@dataclass(frozen=True)
class AutoResult:
    """What the auto-rollback did: ``result`` is the audit's word (ok, refused, failed)."""

    ok: bool
    result: str
    message: str
    outcome: Outcome | None = None


def run(controller: ActionController, cd: Countdown) -> AutoResult:
    """The ordinary rollback (preflight, lock, write-ahead audit, read-back), audited with
    ``"by": "auto"`` and the alarm that caused it. Blocking: call it from a worker thread. A
    preflight that refuses (someone already rolled back, the router changed) is audited as refused
    and said; nothing is retried."""
    tags = {"by": "auto", "cause": cd.cause}
    try:
        plan = controller.plan("rollback")
    except BackendError as exc:
        controller.record_refusal("rollback", cd.colour.other, exc, tags)
        return AutoResult(False, "refused", f"auto-rollback refused: {exc}")
    if plan.target != cd.colour.other:
        refusal = BackendError(
            f"the rollback would go to {plan.target}, not away from {cd.colour}: the routing "
            "changed since the alarm"
        )
        controller.record_refusal("rollback", plan.target, refusal, tags)
        return AutoResult(False, "refused", f"auto-rollback refused: {refusal}")
    try:
        out = controller.execute(plan, tags=tags)
    except AuditError as exc:
        return AutoResult(False, "failed", f"AUTO-ROLLBACK: the rollback ran, but {exc}")
    word = "AUTO-ROLLBACK" if out.ok else f"AUTO-ROLLBACK {out.result.upper()}"
    return AutoResult(out.ok, out.result, f"{word}: {out.message} (cause: {cd.cause})", out)
