"""A HAProxy fleet: several HAProxy instances (``instances = [...]``) switched as one.

Every verb runs in three steps on all instances, side by side: **preflight** all (each one's own
checks, as a single HAProxy's; any refusal or unreachable instance refuses the verb before anything
changes), **change** all (each one read back), and if one fails, **put back** the ones already
changed (and the map file of every instance, so a restarted one comes back on the old colour) and
report the verb failed with each instance's outcome. State reads all instances at once, each bounded
by the call timeout; instances that disagree make ``live`` None and ``RouterState.split`` say how.

Nothing here imports Textual, ``console`` or ``widgets``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    BackendError,
    BackendTimeout,
    Colour,
    ColourMetrics,
    ColourState,
    InstanceState,
    RouterState,
    Unreachable,
    VerifyFailed,
    instances_split,
)
from backends.haproxy.io import rewrite_map_file
from backends.haproxy.options import HAProxyOptions
from backends.haproxy.state import HAProxyRead, build_state
from backends.haproxy.stats import CounterHistory


class HAProxyRouter(Protocol):
    """What the fleet needs of each member: a single-instance ``HAProxyRouter``'s steps (named so
    here to keep the two modules from importing each other)."""

    name: str
    opts: HAProxyOptions
    context: BackendContext

    @property
    def history(self) -> CounterHistory: ...
    def read(self, admin: bool = True) -> HAProxyRead: ...
    def poll_read(self) -> HAProxyRead: ...
    def switch_check(self, to: Colour, verb: str) -> HAProxyRead: ...
    def point_map_at(self, value: str, verb: str) -> HAProxyRead: ...
    def map_put_back(self, value: str) -> None: ...
    def server_check(self, colour: Colour, verb: str) -> tuple[HAProxyRead, list[str]]: ...
    def server_apply(
        self, colour: Colour, state: str, names: list[str], verb: str
    ) -> HAProxyRead: ...
    def servers_put_back(self, colour: Colour, before: HAProxyRead, names: list[str]) -> None: ...
    def weights_check(self, asked: Mapping[Colour, int], verb: str) -> HAProxyRead: ...
    def weights_apply(
        self, asked: Mapping[Colour, int], read: HAProxyRead, verb: str
    ) -> RouterState: ...
    def weights_put_back(self, before: HAProxyRead) -> None: ...
    def sync_preview(self) -> str | None: ...
    def sync(self) -> RouterState: ...
    def close(self) -> None: ...


T = TypeVar("T")

#: share of the call timeout a state read waits for the slowest instance (the console's own
#: deadline guard gives up on the whole read at the full timeout)
READ_SHARE = 0.8


class FleetActionFailed(VerifyFailed):
    """A verb failed on at least one instance; the message names each instance's outcome."""


def _error(exc: BaseException) -> BackendError:
    if isinstance(exc, BackendError):
        return exc
    return Unreachable(f"{type(exc).__name__}: {exc}")


class Fleet:
    """The instances of one HAProxy router (each a single-instance ``HAProxyRouter``)."""

    def __init__(self, members: Sequence[HAProxyRouter], opts: HAProxyOptions) -> None:
        self.members = list(members)
        self.opts = opts
        self.service = members[0].context.service if members else "?"
        # Twice the members: a state read may leave a hung instance's read running (abandoned at
        # its deadline, never waited for again until it returns) while the next one starts.
        self._pool = ThreadPoolExecutor(2 * len(members), thread_name_prefix="haproxy-fleet")
        self._reading: dict[str, Future[HAProxyRead]] = {}
        self._lock = threading.Lock()  # one verb at a time on the fleet

    @property
    def identity(self) -> str:
        where = ", ".join(f"{m.name}={m.opts.socket} map {m.opts.map}" for m in self.members)
        return f"haproxy fleet {where} key {self.opts.map_key}"

    def close(self) -> None:
        for m in self.members:
            m.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- running on every instance --------------------------------------------------------------

    def each(
        self, fn: Callable[[HAProxyRouter], T], members: Sequence[HAProxyRouter] | None = None
    ) -> list[tuple[HAProxyRouter, T | BackendError]]:
        """``fn(member)`` on every member side by side; each result or its typed error. Each
        runtime-API command is bounded by the socket's timeout, so every call returns."""
        chosen = self.members if members is None else list(members)
        futures = [(m, self._pool.submit(fn, m)) for m in chosen]
        out: list[tuple[HAProxyRouter, T | BackendError]] = []
        for m, f in futures:
            try:
                out.append((m, f.result()))
            except Exception as exc:
                out.append((m, _error(exc)))
        return out

    def _refuse_unless_all(self, results: Sequence[tuple[HAProxyRouter, Any]], verb: str) -> None:
        bad = [(m, r) for m, r in results if isinstance(r, BackendError)]
        if not bad:
            return
        ok = [m.name for m, r in results if not isinstance(r, BackendError)]
        message = (
            f"refusing to {verb} on the fleet: "
            + "; ".join(f"{m.name}: {r}" for m, r in bad)
            + (f" ({', '.join(ok)}: ready)" if ok else "")
            + ". A fleet changes all its instances or none: nothing was changed on any instance."
        )
        raise _same_kind([r for _, r in bad], len(results), ActionRefused)(message)

    def _refuse_if_split(self, results: Sequence[tuple[HAProxyRouter, Any]], verb: str) -> None:
        instances = [
            InstanceState(m.name, _live(m.opts, r))
            for m, r in results
            if isinstance(r, HAProxyRead)
        ]
        split = instances_split(instances)
        if split is None:
            return
        raise ActionRefused(
            f"refusing to {verb}: the instances disagree ({split}). Pick the colour every instance "
            f"should route to first: `bluegreen switch --service {self.service} --to green` (or "
            "--to blue) puts them all on it."
        )

    # -- state ----------------------------------------------------------------------------------

    def state(self, poll: bool = False) -> RouterState:
        """Every instance read side by side (``poll``: each from its socket's shared read, when
        the board grouped it with other routers on that socket)."""
        deadline = READ_SHARE * self.opts.timeout
        reads: list[tuple[HAProxyRouter, HAProxyRead | BackendError]] = []
        started: list[tuple[HAProxyRouter, Future[HAProxyRead]]] = []
        for m in self.members:
            running = self._reading.get(m.name)
            if running is not None and not running.done():
                continue  # its previous read still hangs: not asked again until it returns
            self._reading[m.name] = f = self._pool.submit(m.poll_read if poll else m.read)
            started.append((m, f))
        wait([f for _, f in started], timeout=deadline)
        for m in self.members:
            f = self._reading[m.name]
            if not f.done():
                reads.append(
                    (
                        m,
                        BackendTimeout(
                            f"{m.name} ({m.opts.socket}) did not answer within {deadline:g} s"
                        ),
                    )
                )
                continue
            try:
                reads.append((m, f.result()))
            except Exception as exc:
                reads.append((m, _error(exc)))
        return self.combine(
            [
                (m, build_state(r, m.opts, m.history) if isinstance(r, HAProxyRead) else r)
                for m, r in reads
            ]
        )

    def combine(
        self, results: Sequence[tuple[HAProxyRouter, RouterState | BackendError]]
    ) -> RouterState:
        """Each instance's state (or why it could not be read) -> the fleet's RouterState."""
        ok = [(m, s) for m, s in results if isinstance(s, RouterState)]
        if not ok:
            raise Unreachable(
                "no instance of the HAProxy fleet answered: "
                + "; ".join(f"{m.name}: {e}" for m, e in results)
            )
        instances = tuple(
            InstanceState(
                m.name,
                s.live,
                detail={"socket": str(m.opts.socket), "backend": s.detail.get("backend", "?")},
            )
            if isinstance(s, RouterState)
            else InstanceState(m.name, None, str(s), {"socket": str(m.opts.socket)})
            for m, s in results
        )
        states = [s for _, s in ok]
        base = states[0]
        lives = {s.live for s in states}
        live = base.live if len(lives) == 1 else None
        colours = {c: _merge_colour(c, [s.colour(c) for s in states]) for c in COLOURS}
        detail: dict[str, str] = {
            "instances": ", ".join(
                f"{i.name} → {i.live or 'neither'}" if i.error is None else f"{i.name} → ?"
                for i in instances
            ),
            "map_key": self.opts.map_key,
            "backend": base.detail.get("backend", "?")
            if live is not None
            else "(instances disagree)",
        }
        problems = []
        split = instances_split(instances)
        if split:
            problems.append(f"instances disagree: {split}")
        for m, s in ok:
            if s.detail.get("problem") and (s.live is None or not split):
                problems.append(f"{m.name}: {s.detail['problem']}")
        for c in COLOURS:
            drained = [m.name for m, s in ok if s.colour(c).draining]
            if drained and len(drained) < len(ok):
                problems.append(f"{c} is drained on {', '.join(drained)} only")
        if problems:
            detail["problem"] = "; ".join(dict.fromkeys(problems))
        unread = [i for i in instances if i.error is not None]
        if unread:
            detail["warning"] = "; ".join(
                f"{i.name} could not be read, its routing is unknown ({i.error})" for i in unread
            )
        files = [f"{m.name}: {s.detail['map_file']}" for m, s in ok if s.detail.get("map_file")]
        if files:
            detail["map_file"] = "; ".join(files)
        fingerprint = "||".join(
            f"{m.name}={s.fingerprint}" if isinstance(s, RouterState) else f"{m.name}=?"
            for m, s in results
        )
        return RouterState(live, colours, fingerprint, detail, instances)

    # -- verbs ----------------------------------------------------------------------------------

    def switch(self, to: Colour) -> RouterState:
        verb = f"switch to {to}"
        value = self.opts.backends[to]
        with self._lock:
            pre = self.each(lambda m: m.switch_check(to, verb))
            self._refuse_unless_all(pre, verb)
            before = {
                m.name: r.map_entries.get(self.opts.map_key)
                for m, r in pre
                if isinstance(r, HAProxyRead)
            }
            done = self.each(lambda m: m.point_map_at(value, verb))
            if all(isinstance(r, HAProxyRead) for _, r in done):
                return self.combine(
                    [
                        (m, build_state(r, m.opts, m.history))
                        for m, r in done
                        if isinstance(r, HAProxyRead)
                    ]
                )

            def put_back(m: HAProxyRouter) -> None:
                old = before.get(m.name)
                if old is not None:
                    m.map_put_back(old)

            raise self._undo(verb, done, put_back, lambda m: before.get(m.name))

    def server_state(self, colour: Colour, state: str) -> RouterState:
        verb = f"{state} {colour}"
        with self._lock:
            pre = self.each(lambda m: m.server_check(colour, verb))
            self._refuse_unless_all(pre, verb)
            self._refuse_if_split([(m, r[0]) for m, r in pre if isinstance(r, tuple)], verb)
            checked = {m.name: r for m, r in pre if isinstance(r, tuple)}
            done = self.each(lambda m: m.server_apply(colour, state, checked[m.name][1], verb))
            if all(isinstance(r, HAProxyRead) for _, r in done):
                return self.combine(
                    [
                        (m, build_state(r, m.opts, m.history))
                        for m, r in done
                        if isinstance(r, HAProxyRead)
                    ]
                )
            raise self._undo(
                verb,
                done,
                lambda m: m.servers_put_back(colour, checked[m.name][0], checked[m.name][1]),
                None,
            )

    def set_weights(self, asked: Mapping[Colour, int], verb: str) -> RouterState:
        with self._lock:
            pre = self.each(lambda m: m.weights_check(asked, verb))
            self._refuse_unless_all(pre, verb)
            self._refuse_if_split(pre, verb)
            checked = {m.name: r for m, r in pre if isinstance(r, HAProxyRead)}
            done = self.each(lambda m: m.weights_apply(asked, checked[m.name], verb))
            if all(isinstance(r, RouterState) for _, r in done):
                return self.combine(done)
            raise self._undo(
                verb,
                done,
                lambda m: m.weights_put_back(checked[m.name]),
                lambda m: checked[m.name].map_entries.get(self.opts.map_key),
            )

    def _undo(
        self,
        verb: str,
        done: Sequence[tuple[HAProxyRouter, Any]],
        put_back: Callable[[HAProxyRouter], None],
        file_value: Callable[[HAProxyRouter], str | None] | None,
    ) -> FleetActionFailed:
        """Put back every instance the verb reached (those that failed too: a failure may come
        after HAProxy took the change), then read each one: the error naming every outcome."""
        # An instance that timed out may still be taking the command: not asked again (that would
        # wait another timeout); its map file is put back all the same.
        askable = [m for m, r in done if not isinstance(r, BackendTimeout)]

        def undo(m: HAProxyRouter) -> bool:
            put_back(m)
            return True

        undone = dict(self.each(undo, askable))
        files: dict[str, str] = {}
        if file_value is not None:
            for m, r in done:
                old = file_value(m)
                if old is None or not m.opts.map_file_write:
                    continue
                if isinstance(undone.get(m), BackendError) or isinstance(r, BackendTimeout):
                    try:
                        rewrite_map_file(m.opts.file, self.opts.map_key, old)
                        files[m.name] = f"its map file says {old} again"
                    except OSError as exc:
                        files[m.name] = (
                            f"its map file could not be put back ({exc.strerror or exc})"
                        )
        now = dict(self.each(lambda m: m.read(), askable))
        parts = []
        lives: set[Colour | None] = set()
        for m, r in done:
            first = (
                "changed" if not isinstance(r, BackendError) else f"failed: {str(r).rstrip('.')}"
            )
            back = undone.get(m)
            if m not in undone:
                then = "not put back (it did not answer in time: its routing is unknown)"
            elif isinstance(back, BackendError):
                then = f"could not be put back ({str(back).rstrip('.')})"
            else:
                then = "put back"
            read = now.get(m)
            if isinstance(read, HAProxyRead):
                lv = _live(m.opts, read)
                lives.add(lv)
                reads = f"reads {read.map_entries.get(self.opts.map_key) or '(no entry)'}"
            elif m not in now:
                reads = "not read again"
            else:
                reads = "cannot be read now"
            extra = f", {files[m.name]}" if m.name in files else ""
            parts.append(f"{m.name}: {first}; {then}, {reads}{extra}")
        verdict = (
            f"Every instance that answers routes to {next(iter(lives)) or 'neither colour'} as before"
            if len(lives) == 1
            else "THE INSTANCES NOW DISAGREE: check each one (`show map`) and switch again with --to"
        )
        failed = [m.name for m, r in done if isinstance(r, BackendError)]
        kind = _same_kind([r for _, r in done if isinstance(r, BackendError)], len(done), None)
        return (kind or FleetActionFailed)(
            f"{verb} failed on {', '.join(failed)} of the fleet, and was undone where it had "
            f"changed: {' | '.join(parts)}. {verdict}."
        )

    # -- sync -----------------------------------------------------------------------------------

    def sync_preview(self) -> str | None:
        results = self.each(lambda m: m.sync_preview())
        bad = [(m, r) for m, r in results if isinstance(r, BackendError)]
        if bad:
            raise bad[0][1]
        said = [f"{m.name}: {r}" for m, r in results if r]
        return "; ".join(said) or None

    def sync(self) -> RouterState:
        with self._lock:
            results = self.each(lambda m: m.sync())
        bad = [(m, r) for m, r in results if isinstance(r, BackendError)]
        if bad:
            kind = (
                VerifyFailed if any(isinstance(r, VerifyFailed) for _, r in bad) else ActionRefused
            )
            raise kind(
                "sync on the fleet: "
                + "; ".join(
                    f"{m.name}: {r}" if isinstance(r, BackendError) else f"{m.name}: synced"
                    for m, r in results
                )
            )
        return self.combine(results)


def _same_kind(
    errors: Sequence[BackendError], total: int, otherwise: type[BackendError] | None
) -> Any:
    """When every instance failed the same way (all PermissionDenied, say), that error's class:
    the fleet failed as one HAProxy would. Else ``otherwise``."""
    kinds = {type(e) for e in errors}
    if len(errors) == total and len(kinds) == 1:
        return kinds.pop()
    return otherwise


def _live(opts: HAProxyOptions, read: HAProxyRead) -> Colour | None:
    value = read.map_entries.get(opts.map_key)
    return next((c for c in COLOURS if opts.backends[c] == value), None)


def _sum(values: Sequence[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) if got else None


def _merge_colour(colour: Colour, states: Sequence[ColourState]) -> ColourState:
    """One colour over every instance: the first one's servers (health is checked by each
    instance against the same servers), drained only where every instance drained it, the
    instances' traffic added up (error % and latency weighted by each one's rate)."""
    base = states[0]
    metrics = [s.metrics for s in states if s.metrics is not None]
    merged: ColourMetrics | None = None
    if metrics:
        rates = [m.value("rate") for m in metrics]

        def weighted(key: str) -> float | None:
            pairs: list[tuple[float, float]] = []
            for m, r in zip(metrics, rates, strict=True):
                v = m.value(key)
                if v is not None:
                    pairs.append((v, r or 0.0))
            if not pairs:
                return None
            total = sum(w for _, w in pairs)
            if total <= 0:
                return sum(v for v, _ in pairs) / len(pairs)
            return sum(v * w for v, w in pairs) / total

        merged = replace(
            metrics[0],
            rate=_sum(rates),
            sessions=_sum([m.value("sessions") for m in metrics]),
            error_pct=weighted("error_pct"),
            latency_ms=weighted("latency_ms"),
            requests_total=_sum([m.requests_total for m in metrics]),
            errors_total=_sum([m.errors_total for m in metrics]),
        )
    weights = {s.weight for s in states}
    return replace(
        base,
        draining=all(s.draining for s in states),
        weight=base.weight if len(weights) == 1 else None,
        metrics=merged,
    )
