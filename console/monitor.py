"""The poll pipeline of one service: backends -> Snapshot -> alarms -> Frame.

``Monitor.poll()`` blocks (it calls the backends through their deadline guards) and is called from a
worker thread by the TUI, from the main thread by the headless CLI and the benchmark. It returns an
immutable ``Frame``; nothing it returns is mutated afterwards.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from backends.base import COLOURS, BackendError, Colour, ColourMetrics, RouterState
from backends.clock import Clock, monotonic
from console.alarms import AlarmEngine, BakeTracker, rules_from_config
from console.audit import (
    AuditError,
    AuditLog,
    reconcile_late,
    reconcile_unfinished,
    took_effect,
)
from console.baseline import BaselineTracker
from console.guard import Guard, Pending
from console.model import (
    METRIC_KEYS,
    BakeState,
    BakeVerdict,
    Frame,
    RoutingKey,
    Snapshot,
    WarmWindow,
    describe_change,
    routing_key,
)
from console.recording import Recording, RecordingError
from console.runtime import ServiceRuntime
from console.verdicts import StoredVerdict, VerdictStore, tolerance

T = TypeVar("T")


class Monitor:
    """Polls one service. ``poll()`` reads the backends; ``observe_action()`` absorbs what an action
    read back. Both return the Frame they built: the caller hands it to the UI (or prints it); nothing
    reads frames back out of the Monitor."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        audit: AuditLog | None = None,
        verdicts: VerdictStore | None = None,
    ) -> None:
        """``verdicts``: the store of bake verdicts in the recording (``console.verdicts``), shared
        with every console on this machine: a window's verdict is decided once and read back. None
        (not recorded): this console decides on its own."""
        self.runtime = runtime
        cfg = runtime.config
        self.clock: Clock = runtime.clock
        self.engine = AlarmEngine(rules_from_config(cfg.alarms))
        self.bake = BakeTracker(cfg.bake_seconds)
        # Green against blue during the bake (console.baseline); None with compare = "off"
        self.baseline = (
            BaselineTracker(cfg.bake.baseline_span, cfg.bake_seconds, cfg.poll_interval)
            if cfg.bake.compare != "off"
            else None
        )
        self._audit = audit  # read on the first poll, in the worker thread: no file I/O at build
        self._log = audit  # kept: actions with an unknown outcome are looked for at later polls
        self._log_stamp: tuple[int, int] | None = None  # the log's (size, mtime) when last scanned
        self._late: list[dict[str, Any]] = []  # intents whose outcome is unknown, still open
        self._late_notes: list[str] = []  # "the switch to green ... took effect late; recorded"
        self._lock = threading.Lock()
        self._router: RouterState | None = None
        self._router_time: float | None = None
        self._metrics: Mapping[Colour, ColourMetrics] = {}
        self._metrics_time: float | None = None
        self._expected: RoutingKey | None = None  # routing our own last action read back
        self._acting = 0  # actions of ours under way (``acting()``)
        self._switch_seen: tuple[float, float] | None = None  # last switch: (monotonic, wall)
        self._actions = (
            0  # bumped by observe_action: a poll that straddles an action drops its read
        )
        self.verdicts = verdicts
        self._resumed: tuple[Colour, float, str | None] | None = None  # audit's switch: colour,
        # start (monotonic), record id; a window that ended before this console started is shown
        # with its stored verdict
        self._window: tuple[tuple[Colour, float], int | None] | None = None  # (window, row id)
        self._settled = False  # this window's verdict was stored (or adopted)
        # The warm-rollback window of the bake window that started at (colour, monotonic start):
        # looked up in the audit log once per window
        self._warm: tuple[tuple[Colour, float], WarmWindow | None] | None = None

    def _begin_reads(self) -> tuple[Pending[RouterState] | str, Pending[Any] | str | None]:
        """Start the router's and the metrics source's reads side by side, each on its own guard's
        thread (or the reason one could not start: busy, or an earlier call still hung)."""
        rt = self.runtime
        metrics: Pending[Any] | str | None = None
        if rt.metrics is not None and rt.metrics_guard is not None:
            metrics = _begin(rt.metrics_guard, rt.metrics.sample)
        # poll_state: a read shared with the other services on the same router (the board), or
        # state() itself; actions read with state() directly
        return _begin(rt.router_guard, rt.router.poll_state), metrics

    def _load_last_switch(self) -> None:
        """The last switch recorded for this service: "switched 2m ago" and the bake window survive
        a restart of the console (and the headless `status` knows them too)."""
        audit, self._audit = self._audit, None
        if audit:  # an intent a crash left without outcome: recorded as the router shows it now
            with contextlib.suppress(BackendError, AuditError):
                for record in reconcile_unfinished(audit, self.runtime):
                    if record.get("late"):
                        self._late_notes.append(str(record.get("error")))
        router_id = self.runtime.router.identity
        last = audit.last_switch(self.runtime.name, router_id) if audit else None
        if not last:
            return
        after = last.get("after")
        after = after if isinstance(after, dict) else {}
        with contextlib.suppress(ValueError):
            # The record holds wall time only: converted once, here, to the monotonic clock the bake
            # window runs on. So a restarted console's window depends on the wall clock now.
            elapsed = max(0.0, self.clock() - float(last["epoch"]))
            started = monotonic(self.clock) - elapsed
            colour = Colour.parse(str(after.get("live")))
            self.bake.resume(started, colour)
            self._switch_seen = (started, float(last["epoch"]))
            self._resumed = (colour, started, str(last["id"]) if last.get("id") else None)

    def poll(self) -> Frame:
        """Read the router and the metrics source (side by side), then evaluate alarms and bake."""
        if self._audit is not None:
            self._load_last_switch()
        with self._lock:
            actions_before = self._actions
        fr, fm = self._begin_reads()
        try:  # both collected whatever happens: a read not collected keeps its guard taken
            read = _outcome(fr)  # in two steps: unpacked at once, mypy would want RouterState|None
        finally:
            metrics, metrics_error = _outcome(fm) if fm is not None else (None, None)
        router, router_error = read
        late = self._check_late(router) if router is not None else []
        now, mono = self.clock(), monotonic(self.clock)
        with self._lock:
            external = None
            if router is not None and self._actions != actions_before:
                router = None  # read before an action finished: the action's read-back is newer
            elif router is not None and self._acting:
                # Read while an action of ours runs (between its verb and its read-back, in the
                # settle): shown, but a change in it is ours to report when the action ends, never
                # "outside the console" (its settle read is what catches someone else's).
                self._router, self._router_time = router, mono
            elif router is not None:
                external = self._absorb(router, mono)
            if late:  # the change is an action of ours (or a colleague's) that landed late
                external = "; ".join(late)
            if metrics is not None:
                self._metrics, self._metrics_time = metrics, mono
            elif self.runtime.metrics is None and router is not None:
                self._metrics_time = mono  # the router's own figures are the metrics
            # Alarms step only on figures read this poll; stale ones would advance sustain timers.
            fresh = metrics is not None or (self.runtime.metrics is None and router is not None)
            # The router's counters read this poll step the evidence rules even when the metrics
            # source failed (the fast path, issue 11): their deltas are fresh whatever Prometheus did.
            frame = self._frame(
                now, mono, router_error, metrics_error, external, fresh, router is not None
            )
        self._read_history()  # the bake's baseline, when this console started too recently
        return frame

    def _read_history(self) -> None:
        """The old colour's figures before the switch, when the baseline tracker holds too few of
        them (this console started shortly before the switch, or after it): read from the metrics
        source's history (Prometheus), under its deadline guard, else from the recording (earlier
        sessions' polls), in the poll's worker thread. They count from the next frame on."""
        rt, tracker = self.runtime, self.baseline
        if tracker is None:
            return
        metrics, guard = rt.metrics, rt.metrics_guard
        from_source = metrics is not None and guard is not None and metrics.SUPPORTS_HISTORY
        if not from_source and self.verdicts is None:
            return
        with self._lock:
            request = tracker.wants_history()
            if request is not None:
                tracker.asked(request)
        if request is None:
            return
        now, mono = self.clock(), monotonic(self.clock)
        start, end = now - (mono - request.start), now - (mono - request.end)
        colour, step = request.colour, request.step
        try:
            if from_source:
                assert metrics is not None and guard is not None
                figures = guard.call(lambda: metrics.history(colour, METRIC_KEYS, start, end, step))
                where = "history"
            else:
                assert self.verdicts is not None
                figures = _recorded(self.verdicts.path, rt.name, colour, start, end, step)
                where = "recording"
        except (BackendError, RecordingError, sqlite3.Error, OSError):
            with self._lock:
                tracker.history_failed(request)
            return
        with self._lock:
            tracker.fill(request, figures, where)

    def _check_late(self, state: RouterState) -> list[str]:
        """Actions whose outcome was unknown (a verb timed out after it was sent), looked for at every
        poll until their ``reconcile_until``: one the router now shows applied is recorded in the
        audit log (``reconciled``, ``applied: true``), so rollback and ``status`` know the switch
        happened. The log is rescanned only when it changed (its size or mtime). Returns the
        sentences to report ("the switch to green sent at 16:40:02 took effect late; recorded")."""
        notes, self._late_notes = self._late_notes, []
        log = self._log
        if log is None:
            return notes
        try:
            st = log.path.stat()
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            return notes
        router_id = self.runtime.router.identity
        if stamp != self._log_stamp:
            self._log_stamp = stamp
            self._late = list(log.late(self.runtime.name, router_id))
        now = log.now()
        self._late = [i for i in self._late if float(i["reconcile_until"]) >= now]
        if not self._late:
            return notes
        if not any(took_effect(i, state)[0] is True for i in self._late):
            return notes
        with contextlib.suppress(AuditError):
            for record in reconcile_late(log, self.runtime, state):
                notes.append(str(record.get("error")))
        return notes

    def _absorb(self, router: RouterState, mono: float) -> str | None:
        """Take ``router`` as the routing now (the caller holds the lock). Returns the sentence a
        change by someone else gets: routing that differs from what was last seen and is not what
        our own last action left (``_expected``, which counts once)."""
        prev, key = self._router, routing_key(router)
        external = None
        if prev is not None and key != routing_key(prev) and key != self._expected:
            external = f"routing changed outside the console: {describe_change(prev, router)}"
        if key == self._expected:
            self._expected = None  # seen once: a later return to this state is someone's
        self._router, self._router_time = router, mono
        return external

    @contextlib.contextmanager
    def acting(self) -> Iterator[None]:
        """Held by the action controller while an action of this console runs (from before its
        first verb to after its read-back): a poll that reads the router meanwhile does not call
        what the action is doing a change made outside the console."""
        with self._lock:
            self._acting += 1
            self._actions += 1
        try:
            yield
        finally:
            with self._lock:
                self._acting -= 1
                self._actions += 1

    def observe_action(
        self, state: RouterState, *, outside: bool = False, own: RouterState | None = None
    ) -> Frame:
        """Absorb the state an action read back. Returns the Frame it makes: the action's outcome
        carries it to the UI, which applies it like a polled one.

        By default ``state`` is the action's own doing: the bake window starts at the switch itself
        and the next poll does not report our own change as someone else's.

        With ``outside=True`` it is not (all) ours: a confirmed action refused because someone else
        changed the routing, or a second read after the settle that someone else moved. ``own`` is
        what our verbs left (their checked read-back), when they ran: that much is ours, as above.
        What ``state`` changes beyond it (or, with no ``own``, beyond what was last seen) is absorbed
        exactly as a poll absorbs it: reported as "routing changed outside the console: ...", the
        bake window sees it as it sees any switch a poll finds, and the next poll does not report
        it again."""
        now, mono = self.clock(), monotonic(self.clock)
        with self._lock:
            self._actions += 1  # a poll that straddles this read drops its older one
            if not outside:
                self._router, self._router_time = state, mono
                self._expected = routing_key(state)
                return self._frame(now, mono, None, None, None, fresh=False)
            if own is not None:
                # Ours, but already overtaken by ``state``: compared with, never expected again (a
                # later return to it is someone else's doing).
                self._router, self._router_time = own, mono
                self._expected = None
            external = self._absorb(state, mono)
            return self._frame(now, mono, None, None, external, fresh=False)

    def _frame(
        self,
        now: float,
        mono: float,
        router_error: str | None,
        metrics_error: str | None,
        external: str | None,
        fresh: bool,
        counters_fresh: bool = False,
    ) -> Frame:
        router = self._router
        merged: dict[Colour, ColourMetrics] = {}
        rt = self.runtime
        for c in COLOURS:
            base = router.colour(c).metrics if router else None
            own = self._metrics.get(c)
            # every figure names its source: a backend's own names stand, the kind fills the rest
            base = base.with_sources(rt.router.kind) if base else None
            if own is not None and rt.metrics is not None:
                own = own.with_sources(rt.metrics.kind)
            merged[c] = own.merged_over(base) if own else (base or ColourMetrics())
        snap = Snapshot(
            service=self.runtime.name,
            time=now,
            router=router,
            router_error=router_error,
            router_time=self._router_time,
            metrics=merged,
            metrics_error=metrics_error,
            metrics_time=self._metrics_time,
            external_change=external,
            mono=mono,
        )
        # Rules step on fresh figures only; the routing invariants on every frame with a router state
        alarms = self.engine.evaluate(snap, fresh, counters_fresh)
        tracker = self.baseline
        if tracker is not None:
            tracker.observe(snap, fresh)
        # compare = "require": the comparison with the baseline has its say on the verdict
        gate = tracker.gate if tracker and self.runtime.config.bake.compare == "require" else None
        bake = self.bake.update(mono, router.live if router else None, alarms, fresh, gate)
        if self.verdicts is not None:
            bake = self._one_verdict(bake, now, mono, router)
        comparison = tracker.comparison(bake) if tracker is not None else None
        warm = self._warm_window(bake, router, now, mono)
        return Frame(snap, alarms, bake, self._last_switch_wall(now, mono), comparison, warm)

    def _warm_window(
        self, bake: BakeState, router: RouterState | None, now: float, mono: float
    ) -> WarmWindow | None:
        """The old colour's warm-rollback window (``keep_warm``), the one the drain guard asks twice
        inside (``console.actions.warm_left``): opened by a *switch* recorded in the audit log that
        moved the live colour to the one baked now (a rollback leaves nothing warm to go back to; a
        change from outside is not ours to promise). Looked up once per bake window; counted on
        the monotonic clock from the window's start."""
        keep = self.runtime.warm_seconds
        if keep <= 0 or bake.colour is None or bake.started is None or self._log is None:
            return None
        if router is not None and router.live is not None and router.live != bake.colour:
            return None
        key = (bake.colour, bake.started)
        if self._warm is None or self._warm[0] != key:
            self._warm = (key, self._warm_from_audit(bake.colour, bake.started, now, mono, keep))
        warm = self._warm[1]
        return warm if warm is not None and warm.remaining(mono) > 0 else None

    def _warm_from_audit(
        self, colour: Colour, started: float, now: float, mono: float, keep: float
    ) -> WarmWindow | None:
        log = self._log
        if log is None:
            return None
        started_wall = now - (mono - started)
        tol = max(5.0, 3 * self.runtime.config.poll_interval)
        with contextlib.suppress(AuditError, OSError, ValueError, TypeError):
            last = log.last_switch(self.runtime.name, self.runtime.router.identity)
            before, after = (last or {}).get("before"), (last or {}).get("after")
            if (
                last
                and last.get("action") == "switch"
                and isinstance(before, dict)
                and isinstance(after, dict)
                and after.get("live") == colour.value
                and abs(float(last["epoch"]) - started_wall) <= tol
            ):
                return WarmWindow(Colour.parse(str(before.get("live"))), started, keep)
        return None

    def _one_verdict(
        self, bake: BakeState, now: float, mono: float, router: RouterState | None
    ) -> BakeState:
        """One verdict per bake window across the consoles on this machine: the window's row in
        the recording is found or stored when it opens; a verdict stored there (by whoever decided
        first) is adopted; this console's own verdict is stored unless one was, atomically."""
        store = self.verdicts
        assert store is not None
        rt = self.runtime
        tol = tolerance(rt.config.poll_interval)
        resumed = self._resumed
        if router is not None:
            self._resumed = None  # looked at once, on the first frame with a router state
        if bake.colour is None or bake.started is None:
            # A window that ended before this console started: its stored verdict, if any.
            if resumed is None or router is None or router.live != resumed[0]:
                return bake
            colour, started, switch = resumed
            row = store.window(
                rt.name,
                rt.router.identity,
                rt.router.kind,
                colour.value,
                now - (mono - started),
                self.bake.duration,
                switch,
                tol,
                create=False,  # a window that is over: only a verdict stored for it is shown
            )
            if row is None or row.verdict is None:
                return bake
            self._window, self._settled = ((colour, started), row.id), True
            return self.bake.adopt(self._stored(row, colour, started))
        key = (bake.colour, bake.started)
        row = None
        if self._window is None or self._window[0] != key:
            started_wall = now - (mono - bake.started)
            switch = self._switch_id(bake.colour, started_wall, tol, resumed)
            row = store.window(
                rt.name,
                rt.router.identity,
                rt.router.kind,
                bake.colour.value,
                started_wall,
                bake.duration,
                switch,
                tol,
            )
            if row is None:  # not readable now (busy, or no recording): the next poll tries again
                return bake
            self._window, self._settled = (key, row.id), False
        row_id = self._window[1]
        if row_id is None or self._settled:
            return bake
        if bake.verdict == BakeVerdict.BAKING:
            row = row or store.read(row_id)  # decided by another console meanwhile?
            if row is not None and row.verdict is not None:
                self._settled = True
                return self.bake.adopt(self._stored(row, bake.colour, bake.started))
            return bake
        if not bake.decided:
            return bake
        stored, ours = store.decide(row_id, bake.verdict.name.lower(), bake.reason, now)
        if stored is None:
            return bake  # nothing stored (the file was busy): decided again, and stored, next poll
        self._settled = True
        if ours or stored.verdict is None:
            return bake
        # Decided a moment earlier elsewhere: that one is the window's verdict here too, with its
        # origin, even when it is the same word (its reason may quote other figures). So one
        # process tells it (notifications, the log): the one that decided it.
        return self.bake.adopt(self._stored(stored, bake.colour, bake.started))

    def _stored(self, row: StoredVerdict, colour: Colour, started: float) -> BakeState:
        verdict = BakeVerdict.FAILED if row.verdict == "failed" else BakeVerdict.PASSED
        return BakeState(verdict, colour, started, self.bake.duration, row.reason, row.origin())

    def _switch_id(
        self,
        colour: Colour,
        started_wall: float,
        tol: float,
        resumed: tuple[Colour, float, str | None] | None,
    ) -> str | None:
        """The audit record's id of the switch that opened the window (to key it in the store), if
        the audit log has it: the one this console resumed from, or the last switch to ``colour``
        recorded within the tolerance of the window's start."""
        if resumed is not None and resumed[0] == colour:
            return resumed[2]
        log = self._log
        if log is None:
            return None
        with contextlib.suppress(AuditError, OSError, ValueError, TypeError):
            last = log.last_switch(self.runtime.name, self.runtime.router.identity)
            after = (last or {}).get("after")
            if (
                last
                and isinstance(after, dict)
                and after.get("live") == colour.value
                and abs(float(last["epoch"]) - started_wall) <= tol
                and last.get("id")
            ):
                return str(last["id"])
        return None

    def _last_switch_wall(self, now: float, mono: float) -> float | None:
        """The bake tracker's last switch (monotonic) in wall time, for the Frame: the wall time it
        happened at while the wall clock has not been stepped since, else re-expressed on today's
        wall clock (``now`` minus the monotonic time since), so "switched 2m ago" stays true."""
        switched = self.bake.last_switch
        if switched is None:
            return None
        if self._switch_seen is None or self._switch_seen[0] != switched:
            self._switch_seen = (switched, now - (mono - switched))
        wall = self._switch_seen[1]
        if abs((now - mono) - (wall - switched)) > 0.5:  # the wall clock was stepped since
            return now - max(0.0, mono - switched)
        return wall

    def close(self) -> None:
        if self.verdicts is not None:
            self.verdicts.close()


def _begin(guard: Guard, fn: Callable[[], T]) -> Pending[T] | str:
    """The call started, or why not: never raises, so a read started before it (whose guard
    stays taken until its result is collected) is always collected."""
    try:
        return guard.begin(fn)
    except BackendError as exc:
        return str(exc)
    except Exception as exc:  # e.g. no thread could be started: said on the frame
        return f"{guard.name}: {type(exc).__name__}: {exc}"


def _outcome(pending: Pending[T] | str) -> tuple[T | None, str | None]:
    if isinstance(pending, str):
        return None, pending
    try:
        return pending.result(), None
    except BackendError as exc:
        return None, str(exc)
    except Exception as exc:  # the guard wraps everything; this is a last line of defence
        return None, f"{type(exc).__name__}: {exc}"


def _recorded(
    path: Path, service: str, colour: Colour, start: float, end: float, step: float
) -> dict[str, list[float | None]]:
    """``colour``'s figures over [start, end] (wall clock) as the recording holds them (every
    session's polls of ``service``): one value per ``step`` (the last poll in each), None where
    nothing was polled."""
    with Recording(path) as rec:
        svc = rec.service(service)
        buckets = max(1, min(100_000, int((end - start) / max(step, 0.001))))
        return {
            key: [b.last for b in rec.series(svc, key, start, end, buckets).get(colour, [])]
            for key in METRIC_KEYS
        }
