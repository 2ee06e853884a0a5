"""Actions: lock -> preflight -> one confirmation -> lock -> intent -> execute -> read back, settle,
read again, invariants -> outcome.

Used by the TUI's keys and by the headless CLI alike. Both methods block (they call the router through
its deadline guard): the TUI calls them from a worker thread.

* ``plan(action, colour)`` takes the service's lock (``console.lock``: one action at a time per
  service on this machine, plus the router's own ``hold``), reconciles any unfinished intent, reads
  the router fresh and either refuses with the reason (``ActionRefused``, audited as ``refused``) or
  returns a ``Plan`` saying before -> after, for the confirmation dialog. The lock is released when
  it returns: nobody waits on an open dialog.
* ``execute(plan)`` takes the lock again, re-reads the router, refuses if it changed since the plan
  was confirmed, writes the intent record (fsync'd: a failed write refuses, nothing is touched), runs
  the verbs, reads the state back and compares it with what was asked, waits a short settle and reads
  again, and checks the routing invariants (``console.model.violations``). A second read that differs
  (someone else acted at the same moment) or a violation makes the outcome ``failed``, never done.
  The outcome record (naming its intent) is written before it returns.

The result word (``Outcome.result``, the audit's ``result``, the console's log and the CLI alike) is
``refused`` whenever no command reached the router, ``failed`` when something went wrong after one
did. A change the read-back shows that is not the action's own (someone else's, before or during it)
is handed to ``observe`` as outside the console (see ``_observe_failure``), never as ours.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendError,
    BackendTimeout,
    Colour,
    Conflict,
    RouterState,
    VerifyFailed,
)
from backends.clock import system_clock
from console.audit import AuditError, AuditLog, took_effect
from console.lock import LOCK_WAIT, ServiceLock, lock_path, who
from console.model import Frame, describe_change, routing_key, violations
from console.runtime import ServiceRuntime


class PostconditionFailed(VerifyFailed):
    """After the action, the second read-back moved or breaks a routing invariant. ``state`` is the
    second read; ``first`` the read-back that showed what was asked (our verbs' own doing)."""

    def __init__(self, message: str, state: RouterState, first: RouterState | None = None) -> None:
        super().__init__(message)
        self.state = state
        self.first = first


class Observer(Protocol):
    """Turns an action's read-back into a Frame: the Monitor's ``observe_action``. ``outside``: the
    state is not (all) the action's doing; ``own``: the part that is (see the Monitor)."""

    def __call__(
        self, state: RouterState, *, outside: bool = False, own: RouterState | None = None
    ) -> Frame: ...


ACTIONS = ("switch", "drain", "ready", "rollback", "weights", "sync")
WEIGHT_TOLERANCE = 2  # percent
VERB_TIMEOUT_FACTOR = 3
LATE_POLLS = 5  # an unknown outcome is looked for at the polls of this many intervals
SETTLE = 0.3  # seconds between the read-back and the second read that catches a concurrent change


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
    # Non-empty: the action is allowed, but only with a second, explicit confirmation (the
    # console asks again; the CLI needs --cold): draining the old colour inside its warm-rollback
    # window says what a rollback would lose.
    caution: str = ""
    # Non-empty: nothing to run yet; the operator picks one of these colours first (a fleet whose
    # instances disagree: which colour every instance should route to), then the console plans
    # the ordinary switch to it. Only from ``plan(..., pick=True)``; the CLI says ``--to``.
    choices: tuple[Colour, ...] = ()


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
        result: the word the audit records, and the console and the CLI print: ``ok``, ``refused``
            (no command reached the router, or the router turned down the one it got as a
            conflict or a refusal and nothing moved) or ``failed`` (something went wrong after a command was sent).
    """

    plan: Plan
    ok: bool
    after: RouterState | None
    message: str
    audit: dict[str, Any] | None
    frame: Frame | None = None
    result: str = "failed"


def _no_sleep(_seconds: float) -> None:
    pass


def _live_text(state: RouterState) -> str:
    return str(state.live).upper() if state.live else "NONE"


class ActionController:
    def __init__(
        self,
        runtime: ServiceRuntime,
        audit: AuditLog,
        observe: Observer | None = None,
        *,
        command: str = "an action",
        settle: float = SETTLE,
        sleep: Callable[[float], None] | None = None,
        lock_wait: float = LOCK_WAIT,
        on_wait: Callable[[str], None] | None = None,
        acting: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    ) -> None:
        """``observe`` turns a read-back into a Frame (the Monitor's ``observe_action``: the bake starts
        at the switch, and the next poll does not call our own change external; a change that is not
        ours is reported as outside the console); the Outcome carries that Frame. Without it (the
        headless CLI) outcomes carry none.

        ``command`` names what runs (``bluegreen switch``, ``console``) for an operator who waits on
        the lock; ``settle`` is the pause before the second read-back (``sleep`` is injected so unit
        tests do not sleep); ``lock_wait`` bounds the wait for another action on the same service,
        and ``on_wait`` is told once who holds it. ``acting`` (the Monitor's) is held while a
        confirmed action runs, so a poll in the middle of it does not call it someone else's."""
        self.runtime = runtime
        self.acting = acting
        self.audit = audit
        self.observe = observe
        self.command = command
        self._tags: dict[str, Any] = {}  # extra keys of every audit record of the running action
        self.settle = settle
        # On injected time (a ManualClock, the tests) nothing moves while we wait in real time.
        self._sleep = sleep or (time.sleep if runtime.clock is system_clock else _no_sleep)
        self.on_wait = on_wait
        self.lock = ServiceLock(
            lock_path(audit.path, runtime.name, runtime.router.identity),
            runtime.name,
            wait=lock_wait,
        )
        self._depth = 0  # holding() nests: the CLI holds across plan and execute

    @property
    def service(self) -> str:
        return self.runtime.name

    @property
    def verb_timeout(self) -> float:
        """A verb is several router commands (a HAProxy switch: read, set, read back, rewrite the
        file, read again): it gets three poll deadlines, not one."""
        return VERB_TIMEOUT_FACTOR * self.runtime.config.call_timeout

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the service's lock on this machine and the router's own (``Router.hold``) for the
        block; nested uses hold them once. Raises ActionRefused naming the holder after a bounded
        wait."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:  # the lock lives beside the log: a log that cannot be written is the reason to give
            self.audit.check_writable()
        except AuditError as exc:
            raise ActionRefused(str(exc)) from None
        with (
            self.lock.hold(self.command, self.on_wait),
            self.runtime.router.hold(f"{who()} ({self.command})"),
        ):
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0

    def _read(self) -> RouterState:
        return self.runtime.router_guard.call(self.runtime.router.state)

    def _audit(
        self,
        action: str,
        target: Any,
        result: str | None,
        before: RouterState | None,
        after: RouterState | None = None,
        error: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return self.audit.append(
            **self._tags,
            service=self.service,
            router=self.runtime.router.kind,
            router_id=self.runtime.router.identity,
            action=action,
            target=str(target) if target is not None else None,
            before=before.summary() if before else None,
            after=after.summary() if after else None,
            result=result,
            error=error,
            **extra,
        )

    def reconcile(self, state: RouterState) -> list[dict[str, Any]]:
        """Record, for every intent of this service on this router that has no outcome, what the
        router shows now (the caller holds the lock). Returns the records written."""
        router = self.runtime.router
        return self.audit.reconcile(self.service, router.identity, router.kind, state)

    # ------------------------------------------------------------------ preflight

    def plan(
        self,
        action: str,
        colour: Colour | None = None,
        weights: dict[Colour, int] | None = None,
        *,
        pick: bool = False,
    ) -> Plan:
        """Preflight ``action``. Raises ActionRefused (audited) with the reason, or BackendError
        when the router cannot be read (also audited). ``pick``: a switch with no colour on a
        fleet whose instances disagree returns a Plan with ``choices`` (the colours to put every
        instance on) instead of refusing; the caller plans again with the colour picked."""
        if action not in ACTIONS:
            raise ActionRefused(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        before: RouterState | None = None
        try:
            self.audit.check_writable()
            with self.holding():
                before = self._read()
                self.reconcile(before)  # an intent a crash left open: settled before we act
                if action == "switch" and pick and colour is None and before.split:
                    return self._plan_pick(before)
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

    def _plan_pick(self, state: RouterState) -> Plan:
        """The instances disagree: which colour should every one of them route to?"""
        lines = [f"now: {state.split}"]
        for c in COLOURS:
            cs = state.colour(c)
            lines.append(
                f"{str(c)[0]}: every instance → {str(c).upper()}: {cs.healthy_servers}/"
                f"{len(cs.servers)} servers healthy"
                + (f", {cs.version}" if cs.version else "")
                + (", draining" if cs.draining else "")
            )
        lines.append("then the switch to it is confirmed as usual")
        return Plan(
            "switch",
            None,
            (),
            state,
            f"{self.service}'s instances disagree: switch every one to which colour?",
            tuple(lines),
            choices=COLOURS,
        )

    def _plan_switch(self, state: RouterState, colour: Colour | None, _w: Any) -> Plan:
        if colour is None and state.split:
            raise ActionRefused(
                f"the router's instances disagree ({state.split}): pick the colour they should "
                f"all route to: `bluegreen switch --service {self.service} --to green` (or --to blue)"
            )
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
                f"live: {state.split} → every instance {str(to).upper()}"
                if state.split
                else f"live: {_live_text(state)} → {str(to).upper()}",
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
            caution=self._warm_caution(state, target),
        )

    def _warm_caution(self, state: RouterState, target: Colour) -> str:
        """Why draining ``target`` now deserves a second confirmation: it is the colour the last
        switch left, and its warm-rollback window (``keep_warm``) is still open."""
        left = warm_left(self.audit, self.runtime, target)
        if left is None or state.live == target:
            return ""
        return (
            f"{target} is inside its warm-rollback window ({_mmss(left)} left of keep_warm "
            f"{_mmss(self.runtime.warm_seconds)}): a rollback now is one switch to a warm "
            f"colour; after this drain it must ready {target} first, and its connections and "
            "caches start cold (where the router scales a drained colour down, it must start "
            "again)"
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
        found = self.audit.rollback_target(self.service, self.runtime.router.identity)
        if found is None:
            raise ActionRefused(
                f"nothing to roll back: no switch of {self.service!r} on this router "
                f"({self.runtime.router.identity}) is recorded in {self.audit.path}"
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

    def _plan_sync(self, state: RouterState, _c: Any, _w: Any) -> Plan:
        router = self.runtime.router
        if not router.SUPPORTS_SYNC:
            router.sync_preview()  # raises Unsupported, naming the kind
        preview = self.runtime.router_guard.call(router.sync_preview)
        if preview is None:
            raise ActionRefused(
                f"the {router.kind} router's persisted config already agrees with what it routes "
                f"({_live_text(state)} live): nothing to sync"
            )
        return Plan(
            "sync",
            None,
            (("sync", None),),
            state,
            f"Sync {self.service}'s {router.kind} config with what it routes now?",
            (preview, f"live stays {_live_text(state)}"),
        )

    # ------------------------------------------------------------------ execute

    def record_refusal(
        self,
        action: str,
        target: Colour | None,
        exc: Exception,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Audit a refusal that happened before a preflight could run (the lock was held elsewhere),
        or a preflight that refused; a log that cannot be written is already part of the reason."""
        with contextlib.suppress(AuditError):
            self._audit(action, target, "refused", None, error=str(exc), **dict(tags or {}))

    def cancel(self, plan: Plan) -> None:
        self._audit(plan.action, plan.target, "cancelled", plan.before)

    def execute(self, plan: Plan, *, tags: Mapping[str, Any] | None = None) -> Outcome:
        """Run a confirmed plan, holding the service's lock. Never raises for a backend problem or a
        lock held elsewhere: the Outcome says what happened (``refused`` when nothing was done).
        Raises AuditError only if the outcome record cannot be written after a verb ran (the message
        says what ran). ``tags`` go into every audit record of this action (the auto-rollback's
        ``{"by": "auto", "cause": ...}``)."""
        self._tags = dict(tags or {})
        try:
            return self._execute_held(plan)
        finally:
            self._tags = {}

    def _execute_held(self, plan: Plan) -> Outcome:
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(self.holding())
            except BackendError as exc:
                # The lock (another action on this service is under way), the log that cannot be
                # opened, or the router's own lock that could not be taken (a Lease API that does
                # not answer): nothing was sent to the router.
                entry = None
                with contextlib.suppress(AuditError):
                    entry = self._audit(
                        plan.action, plan.target, "refused", plan.before, error=str(exc)
                    )
                return Outcome(plan, False, None, str(exc), entry, None, "refused")
            if self.acting is not None:
                held.enter_context(self.acting())
            return self._execute(plan)
        raise AssertionError("unreachable")  # pragma: no cover - for mypy: the block returns

    def _execute(self, plan: Plan) -> Outcome:
        router = self.runtime.router
        guard = self.runtime.router_guard
        after: RouterState | None = None
        done: list[str] = []
        started = False  # a verb was sent: from here on the router may have changed by our hand
        intent: dict[str, Any] | None = None
        log_failed = False
        unknown = False  # a verb timed out after it was sent: the router may still apply it
        try:
            current = self._read()
            with contextlib.suppress(AuditError):  # a log that fails refuses at the intent below
                self.reconcile(current)
            if routing_key(current) != routing_key(plan.before):
                raise Conflict(
                    f"the routing changed since the preflight ({describe_change(plan.before, current)}); "
                    "nothing was done: look again and retry"
                )
            # Health may have moved since the dialog opened: the same checks, on what is true now.
            self._replan(plan, current)
            try:  # write-ahead: on disk before the router is touched, or nothing is touched
                intent = self._audit(
                    plan.action,
                    plan.target,
                    None,
                    current,
                    record="intent",
                    weights={str(c): w for c, w in plan.weights.items()} or None,
                )
            except AuditError as exc:
                log_failed = True
                raise ActionRefused(f"{exc}; nothing was done") from None
            for verb, arg in plan.steps:
                started = True
                try:
                    args = () if arg is None else (arg,)  # sync takes no argument
                    after = guard.call(getattr(router, verb), *args, timeout=self.verb_timeout)
                except BackendTimeout as exc:
                    unknown = True
                    raise BackendTimeout(
                        f"{exc}; the outcome of {verb} is unknown: the next poll shows where traffic goes"
                        f" (if the router applies it late, the console records it: `bluegreen status`)"
                    ) from None
                done.append(verb if arg is None or verb == "set_weights" else f"{verb} {arg}")
            after = self._read()  # the verbs return a read-back; read once more, after all steps
            self._verify(plan, after)
            after = self._settle(after)
        except BackendError as exc:
            # Something may have changed before the error: read back so the audit, the bake and
            # rollback know what is true (a switch that half-happened is still a switch).
            if isinstance(exc, PostconditionFailed):
                after = exc.state
            else:
                with contextlib.suppress(BackendError):
                    after = self._read()
            # "refused" whenever no command reached the router (a re-read that failed or timed out
            # included), or the router refused the one it got and nothing moved; else "failed".
            nothing_moved = (
                not done and after is not None and routing_key(after) == routing_key(plan.before)
            )
            result = (
                "refused"
                if not started or (nothing_moved and isinstance(exc, (Conflict, ActionRefused)))
                else "failed"
            )
            message = str(exc) + (f" (already done: {', '.join(done)})" if done else "")
            if not started and not isinstance(exc, (Conflict, ActionRefused)):
                message += "; nothing was done (no command was sent to the router)"
            if not started:
                # Nothing reached the router: a refusal is recorded if it can be (the log may be
                # what failed), and a log that cannot take it never turns it into "ran, but ...".
                entry = None
                with contextlib.suppress(AuditError):
                    entry = self._audit(
                        plan.action,
                        plan.target,
                        result,
                        plan.before,
                        None if log_failed else after,
                        message,
                    )
            else:
                late: dict[str, Any] = {}
                if unknown and intent is not None:
                    took = took_effect(intent, after)[0] if after is not None else None
                    if took is not True:  # not applied yet: may be, late; the polls look for it
                        late = {"unknown": True, "reconcile_until": self._late_until()}
                entry = self._audit(
                    plan.action,
                    plan.target,
                    result,
                    plan.before,
                    after,
                    message,
                    intent=intent["id"] if intent else None,
                    **late,
                )
            frame = self._observe_failure(plan, exc, after, started)
            return Outcome(plan, False, after, message, entry, frame, result)
        entry = self._audit(plan.action, plan.target, "ok", plan.before, after, intent=intent["id"])
        frame = self.observe(after) if self.observe else None
        return Outcome(plan, True, after, self._done_text(plan), entry, frame, "ok")

    def _observe_failure(
        self, plan: Plan, exc: BackendError, after: RouterState | None, started: bool
    ) -> Frame | None:
        """The Frame of a failed or refused action's read-back, saying whose change it shows.

        * No verb was sent (refused: the routing changed since the preflight, a re-check failed,
          the intent could not be written): whatever moved is someone else's, reported as outside
          the console as a poll would report it.
        * The settle's second read moved after our checked read-back (PostconditionFailed): the
          read-back is ours, what moved after it is someone else's.
        * A verb was sent and failed, read back wrong or timed out (unknown outcome): the read-back
          is taken as ours. A half-applied verb cannot be told apart from someone else's change at
          the same moment; a verb applied later is recorded as such by the polls ("took effect late").
        """
        if after is None or self.observe is None:
            return None
        if not started:
            if routing_key(after) == routing_key(plan.before):
                return None
            return self.observe(after, outside=True)
        first = exc.first if isinstance(exc, PostconditionFailed) else None
        if first is not None and routing_key(after) != routing_key(first):
            return self.observe(after, outside=True, own=first)
        if routing_key(after) == routing_key(plan.before):
            return None
        return self.observe(after)

    def _late_until(self) -> float:
        """Until when an action whose outcome is unknown is looked for (epoch seconds): a few poll
        intervals, and at least one verb's deadline, from now."""
        cfg = self.runtime.config
        return round(self.audit.now() + max(LATE_POLLS * cfg.poll_interval, self.verb_timeout), 3)

    def _settle(self, first: RouterState) -> RouterState:
        """Wait ``settle`` seconds and read again: a change by someone else at the same moment, or a
        routing invariant broken (whoever broke it), fails the action. Returns the second read."""
        if self.settle > 0:
            self._sleep(self.settle)
        second = self._read()
        problems = list(violations(second))
        if routing_key(second) != routing_key(first):
            problems.insert(
                0,
                f"the routing changed again {self.settle:g} s after the action "
                f"({describe_change(first, second)}): someone else acted at the same moment",
            )
        if problems:
            raise PostconditionFailed("; ".join(problems), second, first)
        return second

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
        if plan.action == "sync" and routing_key(after) != routing_key(plan.before):
            raise VerifyFailed(
                f"sync must not move traffic, but the routing reads back changed "
                f"({describe_change(plan.before, after)})"
            )
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
            "sync": f"{self.runtime.router.kind} config rewritten to agree with what it routes "
            f"({_live_text(plan.before)} live): done (read back), traffic did not move",
        }[plan.action]


def warm_left(audit: AuditLog, runtime: ServiceRuntime, colour: Colour) -> float | None:
    """Seconds left of ``colour``'s warm-rollback window: the last switch moved the live colour
    away from it less than ``keep_warm`` ago (the audit log's wall time; read from any process).
    None outside the window."""
    keep = runtime.warm_seconds
    if keep <= 0:
        return None
    try:
        last = audit.last_switch(runtime.name, runtime.router.identity)
    except (AuditError, OSError):
        return None
    before = (last or {}).get("before")
    if not last or not isinstance(before, dict) or before.get("live") != colour.value:
        return None
    if last.get("action") != "switch":
        return None  # only a switch opens the window: a rollback left nothing warm to go back to
    try:
        left = float(last["epoch"]) + keep - runtime.clock()
    except (KeyError, TypeError, ValueError):
        return None
    return left if left > 0 else None


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def second_confirmation(plan: Plan, tags: Mapping[str, Any]) -> tuple[Plan, dict[str, Any], str]:
    """The second, explicit confirmation a plan with a caution asks for (switching over a failed
    gate, draining the old colour inside its warm-rollback window): the dialog's plan, the audit
    tags it adds once confirmed, and the words for the log ("over the failed gate")."""
    gate = tags.get("gate") == "failed"
    title = (
        f"Override the failed gate: {plan.title.removeprefix('Gate FAILED: ')}"
        if gate
        else f"{plan.title.rstrip('?')} INSIDE its warm-rollback window?"
    )
    second = replace(plan, title=title, lines=(plan.caution,))
    extra = {"gate_overridden": True} if gate else {"inside_warm_window": True}
    return second, extra, "over the failed gate" if gate else "inside the warm window"
