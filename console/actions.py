"""Actions: preflight -> one confirmation -> execute -> read back and compare -> audit.

Used by the TUI's keys and by the headless CLI alike. Both methods block (they call the router through
its deadline guard): the TUI calls them from a worker thread.

* ``plan(action, colour)`` reads the router fresh and either refuses with the reason
  (``ActionRefused``, audited as ``refused``) or returns a ``Plan`` saying before -> after, for the
  confirmation dialog.
* ``execute(plan)`` re-reads the router, refuses if it changed since the plan was confirmed, runs
  the verbs, reads the state back, compares it with what was asked, and appends the audit line
  (fsync'd) before returning. Nothing is reported done that was not read back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backends.base import (
    ActionRefused,
    BackendError,
    BackendTimeout,
    Colour,
    Conflict,
    RouterState,
    VerifyFailed,
)
from console.audit import AuditError, AuditLog
from console.model import Frame, describe_change, routing_key
from console.runtime import ServiceRuntime

ACTIONS = ("switch", "drain", "ready", "rollback", "weights")
WEIGHT_TOLERANCE = 2  # percent
VERB_TIMEOUT_FACTOR = 3


@dataclass(frozen=True)
class Plan:
    """What an action will do, decided by the preflight.

    Attributes:
        action: one of ACTIONS.
        target: the colour acted on (switched to, drained, readied, rolled back to).
        steps: the router verbs to run, in order, e.g. (("ready", blue), ("switch", blue)).
        before: the state the preflight read.
        title: the dialog's title, e.g. "Switch shop to GREEN?".
        lines: before -> after lines for the dialog.
        weights: for "weights": the split asked for.
    """

    action: str
    target: Colour | None
    steps: tuple[tuple[str, Any], ...]
    before: RouterState
    title: str
    lines: tuple[str, ...]
    weights: dict[Colour, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What an executed plan did.

    Attributes:
        plan: the plan that ran.
        ok: the read-back and the checks say it is done.
        after: the state read back, or None when the router could not be read afterwards.
        message: one line for the log ("switched shop blue → green: done (read back)").
        audit: the audit line written.
        frame: the Frame the read-back produced (when the controller has an ``observe`` and the
            routing changed, or the action succeeded): the UI applies it exactly as a polled frame.
    """

    plan: Plan
    ok: bool
    after: RouterState | None
    message: str
    audit: dict[str, Any] | None
    frame: Frame | None = None


def _live_text(state: RouterState) -> str:
    return str(state.live).upper() if state.live else "NONE"


class ActionController:
    def __init__(
        self,
        runtime: ServiceRuntime,
        audit: AuditLog,
        observe: Callable[[RouterState], Frame] | None = None,
    ) -> None:
        """``observe`` turns a read-back into a Frame (the Monitor's ``observe_action``: the bake starts
        at the switch, and the next poll does not call our own change external); the Outcome carries
        that Frame. Without it (the headless CLI) outcomes carry none."""
        self.runtime = runtime
        self.audit = audit
        self.observe = observe

    @property
    def service(self) -> str:
        return self.runtime.name

    @property
    def verb_timeout(self) -> float:
        """A verb is several router commands (a HAProxy switch: read, set, read back, rewrite the
        file, read again): it gets three poll deadlines, not one."""
        return VERB_TIMEOUT_FACTOR * self.runtime.config.call_timeout

    def _read(self) -> RouterState:
        return self.runtime.router_guard.call(self.runtime.router.state)

    def _audit(
        self,
        action: str,
        target: Any,
        result: str,
        before: RouterState | None,
        after: RouterState | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        return self.audit.append(
            service=self.service,
            router=self.runtime.router.kind,
            action=action,
            target=str(target) if target is not None else None,
            before=before.summary() if before else None,
            after=after.summary() if after else None,
            result=result,
            error=error,
        )

    # ------------------------------------------------------------------ preflight

    def plan(
        self, action: str, colour: Colour | None = None, weights: dict[Colour, int] | None = None
    ) -> Plan:
        """Preflight ``action``. Raises ActionRefused (audited) with the reason, or BackendError
        when the router cannot be read (also audited)."""
        if action not in ACTIONS:
            raise ActionRefused(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        before: RouterState | None = None
        try:
            self.audit.check_writable()
            before = self._read()
            return getattr(self, f"_plan_{action}")(before, colour, weights)
        except (BackendError, AuditError) as exc:
            target = colour
            # If the log itself is the problem, the refusal's reason already says so.
            with contextlib.suppress(AuditError):
                self._audit(action, target, "refused", before, error=str(exc))
            if isinstance(exc, AuditError):
                raise ActionRefused(str(exc)) from None
            raise

    def _check_target(self, state: RouterState, to: Colour) -> None:
        cs = state.colour(to)
        if cs.draining:
            raise ActionRefused(
                f"{to} is draining: ready it first (or roll back, which readies it)"
            )
        if cs.servers and cs.healthy_servers == 0:
            counts: dict[str, int] = {}
            for sv in cs.servers:
                counts[str(sv.status)] = counts.get(str(sv.status), 0) + 1
            states = ", ".join(f"{n} {st}" for st, n in sorted(counts.items()))
            raise ActionRefused(f"{to} has no healthy server ({states}): nothing would serve")
        if not cs.servers:
            raise ActionRefused(f"the router shows no server for {to}: nothing would serve")

    def _plan_switch(self, state: RouterState, colour: Colour | None, _w: Any) -> Plan:
        to = colour or (state.live.other if state.live else Colour.GREEN)
        if state.live == to:
            raise ActionRefused(f"{to} is already live: nothing to switch")
        self._check_target(state, to)
        cs = state.colour(to)
        return Plan(
            "switch",
            to,
            (("switch", to),),
            state,
            f"Switch {self.service} to {str(to).upper()}?",
            (
                f"live: {_live_text(state)} → {str(to).upper()}",
                f"{to}: {cs.healthy_servers}/{len(cs.servers)} servers healthy"
                + (f", {cs.version}" if cs.version else ""),
                f"{state.live or 'the old colour'} keeps serving its in-flight requests until they finish",
            ),
        )

    def _plan_drain(self, state: RouterState, colour: Colour | None, _w: Any) -> Plan:
        target = colour or (state.live.other if state.live else None)
        if target is None:
            raise ActionRefused("the router shows no live colour: say which colour to drain")
        cs = state.colour(target)
        if state.live == target and (state.colour(target.other).weight or 0) == 0:
            raise ActionRefused(
                f"{target} is live: draining it would stop all traffic; switch first"
            )
        if cs.draining and not cs.scale_down_pending:  # a pending scale-down: drain again does it
            raise ActionRefused(f"{target} is already draining")
        return Plan(
            "drain",
            target,
            (("drain", target),),
            state,
            f"Drain {str(target).upper()} on {self.service}?",
            (
                f"{target}: {'live' if state.live == target else 'idle'} → draining (no new requests)",
                f"its in-flight requests finish; {target} stays deployed",
            ),
        )

    def _plan_ready(self, state: RouterState, colour: Colour | None, _w: Any) -> Plan:
        target = colour or next((c for c, s in state.colours.items() if s.draining), None)
        if target is None:
            raise ActionRefused("no colour is draining: nothing to ready")
        if not state.colour(target).draining:
            raise ActionRefused(f"{target} is not draining: nothing to ready")
        return Plan(
            "ready",
            target,
            (("ready", target),),
            state,
            f"Ready {str(target).upper()} on {self.service}?",
            (f"{target}: draining → ready (takes traffic again if routed to)",),
        )

    def _plan_rollback(self, state: RouterState, colour: Colour | None, _w: Any) -> Plan:
        found = self.audit.rollback_target(self.service)
        if found is None:
            raise ActionRefused(
                f"nothing to roll back: no switch of {self.service!r} is recorded in {self.audit.path}"
            )
        to, entry = found
        if state.live == to:
            raise ActionRefused(
                f"{to} is already live: the last switch ({entry.get('time')}) is undone already"
            )
        cs = state.colour(to)
        steps: list[tuple[str, Any]] = []
        if cs.draining:
            steps.append(("ready", to))
        if cs.servers and cs.healthy_servers == 0:
            raise ActionRefused(f"{to} has no healthy server: rolling back would serve nothing")
        steps.append(("switch", to))
        lines = [
            f"live: {_live_text(state)} → {str(to).upper()} (as before the switch of {entry.get('time', '?')})",
        ]
        if cs.draining:
            lines.append(f"{to} is draining: it is readied first")
        return Plan(
            "rollback",
            to,
            tuple(steps),
            state,
            f"Roll {self.service} back to {str(to).upper()}?",
            tuple(lines),
        )

    def _plan_weights(self, state: RouterState, _c: Any, weights: dict[Colour, int] | None) -> Plan:
        if not self.runtime.router.supports_weights:
            raise ActionRefused(
                f"the {self.runtime.router.kind} router has no weighted split configured"
            )
        if not weights:
            raise ActionRefused("no weights given")
        now = {c: state.colour(c).weight for c in weights}
        if all(now[c] == w for c, w in weights.items()):
            raise ActionRefused(
                "the weights are already " + ", ".join(f"{c} {w}%" for c, w in weights.items())
            )
        for c, w in weights.items():
            if w > 0:
                self._check_target(state, c)
        return Plan(
            "weights",
            None,
            (("set_weights", weights),),
            state,
            f"Split {self.service}'s traffic?",
            tuple(f"{c}: {now[c]}% → {w}%" for c, w in weights.items()),
            dict(weights),
        )

    # ------------------------------------------------------------------ execute

    def cancel(self, plan: Plan) -> None:
        self._audit(plan.action, plan.target, "cancelled", plan.before)

    def execute(self, plan: Plan) -> Outcome:
        """Run a confirmed plan. Never raises for a backend problem: the Outcome says what happened.
        Raises AuditError only if the audit line cannot be written (the message says what ran)."""
        router = self.runtime.router
        guard = self.runtime.router_guard
        after: RouterState | None = None
        done: list[str] = []
        started = False  # a verb was sent: from here on the router may have changed by our hand
        try:
            current = self._read()
            if routing_key(current) != routing_key(plan.before):
                raise Conflict(
                    f"the routing changed since the preflight ({describe_change(plan.before, current)}); "
                    "nothing was done: look again and retry"
                )
            # Health may have moved since the dialog opened: the same checks, on what is true now.
            self._replan(plan, current)
            for verb, arg in plan.steps:
                started = True
                try:
                    after = guard.call(getattr(router, verb), arg, timeout=self.verb_timeout)
                except BackendTimeout as exc:
                    raise BackendTimeout(
                        f"{exc}; the outcome of {verb} is unknown: the next poll shows where traffic goes"
                    ) from None
                done.append(verb if verb == "set_weights" else f"{verb} {arg}")
            after = self._read()  # the verbs return a read-back; read once more, after all steps
            self._verify(plan, after)
        except BackendError as exc:
            # Something may have changed before the error: read back so the audit, the bake and
            # rollback know what is true (a switch that half-happened is still a switch).
            with contextlib.suppress(BackendError):
                after = self._read()
            nothing_ran = not started or (
                not done and after is not None and routing_key(after) == routing_key(plan.before)
            )
            result = (
                "refused"
                if nothing_ran and isinstance(exc, (Conflict, ActionRefused))
                else "failed"
            )
            message = str(exc) + (f" (already done: {', '.join(done)})" if done else "")
            entry = self._audit(plan.action, plan.target, result, plan.before, after, message)
            frame = None
            if (
                after is not None
                and self.observe
                and routing_key(after) != routing_key(plan.before)
            ):
                frame = self.observe(after)
            return Outcome(plan, False, after, message, entry, frame)
        entry = self._audit(plan.action, plan.target, "ok", plan.before, after)
        frame = self.observe(after) if self.observe else None
        return Outcome(plan, True, after, self._done_text(plan), entry, frame)

    def _replan(self, plan: Plan, current: RouterState) -> None:
        if plan.action == "rollback":
            to = plan.target
            cs = current.colour(to) if to else None
            if cs is not None and cs.servers and cs.healthy_servers == 0:
                raise ActionRefused(
                    f"{to} has no healthy server now: rolling back would serve nothing"
                )
            return
        getattr(self, f"_plan_{plan.action}")(current, plan.target, plan.weights)

    @staticmethod
    def _verify(plan: Plan, after: RouterState) -> None:
        t = plan.target
        if plan.action in ("switch", "rollback") and after.live != t:
            raise VerifyFailed(
                f"asked for {t} live, but the router reads back {after.live or 'no live colour'}"
            )
        if plan.action == "drain" and t is not None and not after.colour(t).draining:
            raise VerifyFailed(f"asked to drain {t}, but the router reads it back as not draining")
        if plan.action in ("ready", "rollback") and t is not None and after.colour(t).draining:
            raise VerifyFailed(f"asked to ready {t}, but the router reads it back as draining")
        if plan.action == "weights":
            got = {c: after.colour(c).weight for c in plan.weights}
            # Routers round weights to what their servers can carry (HAProxy: within 2 %).
            if any(
                (g := got[c]) is None or abs(g - w) > WEIGHT_TOLERANCE
                for c, w in plan.weights.items()
            ):
                raise VerifyFailed(f"asked for weights {plan.weights}, the router reads back {got}")

    def _done_text(self, plan: Plan) -> str:
        t = plan.target
        return {
            "switch": f"switched {self.service} {plan.before.live or 'none'} → {t}: done (read back)",
            "rollback": f"rolled {self.service} back {plan.before.live or 'none'} → {t}: done (read back)",
            "drain": f"{t} draining: done (read back)",
            "ready": f"{t} ready: done (read back)",
            "weights": "weights "
            + ", ".join(f"{c} {w}%" for c, w in plan.weights.items())
            + ": done (read back)",
        }[plan.action]
