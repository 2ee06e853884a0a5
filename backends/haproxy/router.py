"""The HAProxy router: switches colours with the runtime API (``set map``), never with a reload.

Config (``[service.router]``, ``kind = "haproxy"``)::

    socket = "/run/haproxy/admin.sock"    # or "127.0.0.1:9999" for a TCP stats socket
    map = "/etc/haproxy/backend.map"      # exactly as written in HAProxy's config
    map_key = "/"                         # the map key whose value names the live backend
    split_backend = "split-backend"       # optional: weighted canary split (servers `track`)
    [service.router.backends]
    blue = "blue-backend"
    green = "green-backend"

A fleet names several instances instead of ``socket`` (each with its own socket and map; see
``fleet``)::

    map = "/etc/haproxy/backend.map"
    [[service.router.instances]]
    name = "lb1"
    socket = "/run/haproxy/admin.sock"
    [[service.router.instances]]
    name = "lb2"
    socket = "10.0.0.12:9999"
    map_file = "/mnt/lb2/backend.map"

The package: ``options`` (the typed options), ``io`` (socket, map file), ``stats`` (parsing,
counters), ``state`` (read -> RouterState), ``fleet`` (several instances as one). Nothing here imports Textual, ``console`` or ``widgets``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    Colour,
    Router,
    RouterState,
    Unsupported,
    VerifyFailed,
    percent_split,
)
from backends.haproxy.fleet import Fleet
from backends.haproxy.io import (
    StatsSocket,
    map_file_problem,
    read_map_file_value,
    rewrite_map_file,
)
from backends.haproxy.options import HAProxyOptions, load_options
from backends.haproxy.shared import SocketGroup, SocketRead, group_by_socket, read_socket
from backends.haproxy.state import HAProxyRead, build_state, split_groups
from backends.haproxy.stats import (
    ADMF_FDRAIN,
    ADMF_FMAINT,
    CounterHistory,
    absolute_weights,
    parse_map,
    parse_map_list,
)

__all__ = ["HAProxyRouter", "MapFileNotWritten", "MapUnknown"]


class MapUnknown(ActionRefused):
    """HAProxy does not know the configured map (its config names the file differently)."""


class MapFileNotWritten(VerifyFailed):
    """HAProxy switched (read back), but the map file could not be rewritten: a reload would revert."""


class HAProxyRouter(Router):
    """HAProxy over its admin stats socket (runtime API), through haproxyadmin.

    What each verb does on HAProxy:

    * **switch** ``to``: ``set map <map> <map_key> <backends[to]>``. HAProxy evaluates the frontend's
      ``use_backend %[path,map_beg(<map>,...)]`` rule for every request, so the next request (even
      on a kept-alive connection) goes to the new backend, atomically, with no reload; requests
      already in flight on the old backend finish there. The map is then read back (``show map``)
      and a value other than the one asked raises VerifyFailed. Last, the map file is rewritten
      atomically (temporary file in the same directory, then rename; every other line kept), because
      ``set map`` changes memory only and the next reload would otherwise bring the old colour back.
      Refused before anything changes when the target backend is not in ``show stat`` or has no
      server UP (a map naming an unknown backend silently falls back to ``default_backend``), when
      the map has no ``map_key`` entry, or when the map file cannot be rewritten. A switch also ends
      a weighted split: the map key names the colour's own backend again.
    * **drain** ``colour``: ``set server <backend>/<server> state drain`` for every server of the
      colour's backend, in one command line: each finishes its in-flight requests and gets no new
      ones (except sticky sessions, if configured). Split-backend servers that ``track`` them follow.
      Read back from ``show servers state`` (the drain flag of every server).
    * **ready** ``colour``: ``set server <backend>/<server> state ready`` for every server of the
      colour's backend: undoes a drain (and also lifts a ``MAINT`` set by hand). Health checks
      still decide whether a server is UP.
    * **weights** (only with ``split_backend``): absolute ``set weight <split>/<server> N`` (0..256,
      never ``N%``) on the split backend's servers, which ``track`` the colour backends' servers, so
      that each colour's servers together carry its percentage; then, if the map key does not name
      the split backend yet, it is pointed there (``set map``, read back, map file rewritten).
      While split, the live colour is the one with more than 50 %.
    * **sync**: makes the map file agree with HAProxy without moving traffic: ``show map``, then the
      ``map_key`` line of the map file is rewritten (atomically, as a switch does) to the value
      HAProxy routes by now, and both are read back (a map that moved meanwhile, or a file that
      does not read back what was written, raises VerifyFailed). Refused when ``map_file_write``
      is false (something else keeps the file) or the file cannot be rewritten.
    * **rollback** is not a verb of the router: the console switches back to the colour recorded
      before the last switch in its audit log (re-readying it first if it was drained).

    **A fleet** (``instances``, two or more): every verb above runs on all instances, side by side,
    in three steps: preflight all (one refusal or unreachable instance refuses the verb, nothing
    changed anywhere), change all (each read back), and if one fails, put back those already
    changed (and every instance's map file) and raise ``FleetActionFailed`` naming each instance's
    outcome. ``state()`` reads all at once (each within 0.8 x ``timeout``); the result's
    ``instances`` says where each one routes, and ``live`` is None while they disagree
    (``RouterState.split``). drain, ready and weights refuse while they disagree; a switch (the
    operator's pick of a colour) puts them all on it.

    ``state()`` sends ``show map <map>``, ``show stat`` (the whole table, once) and ``show servers
    state``. Router-side metrics per colour come from the colour backend's row (plus the split
    servers tracking that colour): ``rate`` is HAProxy's session rate (per second, over the last
    second), ``error_pct`` the share of 5xx among responses counted since the previous poll (None,
    note "measuring", on the first poll and after a restart), ``latency_ms`` is ``rtime``, HAProxy's
    *average* response time over the last 1024 requests (``latency_stat = "avg of last 1024"``:
    HAProxy has no percentiles), and ``sessions`` is ``scur``.
    """

    kind = "haproxy"
    SUPPORTS_WEIGHTS = False  # True on an instance with a split_backend
    SUPPORTS_SYNC = True

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        opts = load_options(options, context)
        self._setup(opts, opts.socket or "")
        self.fleet: Fleet | None = None
        if opts.instances is not None and len(opts.instances) > 1:
            members = [
                HAProxyRouter.member(o, inst.name, context)
                for o, inst in zip(opts.fleet, opts.instances, strict=True)
            ]
            self.fleet = Fleet(members, opts)
        elif opts.instances is not None:  # a list of one: the single-instance router
            self._setup(opts.fleet[0], opts.instances[0].name)

    @classmethod
    def member(cls, opts: HAProxyOptions, name: str, context: BackendContext) -> HAProxyRouter:
        """One instance of a fleet: the single-instance router on ``opts`` (which has no
        ``instances``), named ``name`` in messages."""
        obj = cls.__new__(cls)
        Router.__init__(obj, {}, context)
        obj._setup(opts, name)
        obj.fleet = None
        return obj

    def _setup(self, opts: HAProxyOptions, name: str) -> None:
        self.opts: HAProxyOptions = opts
        self.name = name
        if opts.split_backend:
            self.SUPPORTS_WEIGHTS = True  # type: ignore[misc]  # per instance, see supports_weights
        self._sock = StatsSocket(opts.socket or "", opts.timeout)
        self._history = CounterHistory()
        self._action_lock = threading.Lock()  # one verb at a time; state() may run alongside
        self._group: SocketGroup | None = None  # the board's shared read of this socket, if any

    @property
    def supports_weights(self) -> bool:
        return self.opts.split_backend is not None

    @property
    def identity(self) -> str:
        """``haproxy SOCKET map MAP key KEY``: the admin socket and the map entry this router moves."""
        o = self.opts
        if self.fleet is not None:
            return self.fleet.identity
        return f"haproxy {o.socket} map {o.map} key {o.map_key}"

    # -- reading ------------------------------------------------------------------------------

    def _read(self, admin: bool = True) -> HAProxyRead:
        """``show map``, ``show stat`` and (unless ``admin`` is False: a switch's preflight, which
        needs only server statuses) ``show servers state``, on this router's own connection."""
        return self._mine(read_socket(self._sock, [self.opts.map or ""], admin))

    def _mine(self, got: SocketRead) -> HAProxyRead:
        """This router's read out of a read of its socket (MapUnknown if HAProxy lacks its map)."""
        map_lines = got.maps[self.opts.map or ""]
        if map_lines and map_lines[0].startswith("Unknown map identifier"):
            raise self._map_unknown()
        return HAProxyRead(parse_map(map_lines), got.rows, got.admin)

    def read(self, admin: bool = True) -> HAProxyRead:
        """One read of this instance (a fleet's member reads side by side with the others)."""
        return self._read(admin)

    def poll_read(self) -> HAProxyRead:
        """A poll's read: from the socket's shared read when the board grouped this router with
        others on its socket (``backends.haproxy.shared``), else its own."""
        if self._group is None:
            return self._read()
        return self._mine(self._group.read(self.opts.timeout + 1.0))

    def join_group(self, group: SocketGroup) -> None:
        self._group = group
        group.join()

    @classmethod
    def share_reads(cls, routers: Sequence[tuple[Router, float]]) -> list[Any]:
        """The routers and fleet instances on one stats socket read it once per poll for all of
        them (``backends.haproxy.shared``). Returns the socket groups."""
        members: list[tuple[HAProxyRouter, float]] = []
        for r, age in routers:
            if isinstance(r, HAProxyRouter):
                chosen = r.fleet.members if r.fleet is not None else [r]
                members += [(m, age) for m in chosen if isinstance(m, HAProxyRouter)]
        return list(group_by_socket(members))

    @property
    def history(self) -> CounterHistory:
        return self._history

    def point_map_at(self, value: str, verb: str) -> HAProxyRead:
        return self._point_map_at(value, verb)

    def _map_unknown(self) -> MapUnknown:
        try:
            known = ", ".join(parse_map_list(self._sock.command("show map"))) or "none"
        except Exception:  # best effort: the message below matters more
            known = "(could not list them)"
        return MapUnknown(
            f'HAProxy does not know the map {self.opts.map!r} (it answered "Unknown map '
            "identifier\"). Router option `map` must be the file exactly as written in HAProxy's "
            f"config (in map_beg(...) or map(...)); maps HAProxy knows: {known}."
        )

    def state(self) -> RouterState:
        if self.fleet is not None:
            return self.fleet.state()
        return build_state(self._read(), self.opts, self._history)

    def poll_state(self) -> RouterState:
        if self.fleet is not None:
            return self.fleet.state(poll=True)
        return build_state(self.poll_read(), self.opts, self._history)

    # -- preflight ----------------------------------------------------------------------------

    def _require_up(self, read: HAProxyRead, colour: Colour, verb: str) -> None:
        backend = self.opts.backends[colour]
        if backend not in read.backends:
            known = ", ".join(sorted(read.backends)) or "none"
            raise ActionRefused(
                f"refusing to {verb}: HAProxy has no backend {backend!r} (router option "
                f"`backends.{colour}`); a map naming an unknown backend silently falls back to the "
                f"default backend. Backends HAProxy has: {known}."
            )
        if not read.has_up_server(backend):
            states = ", ".join(f"{r['svname']} {r.get('status')}" for r in read.servers(backend))
            raise ActionRefused(
                f"refusing to {verb}: backend {backend!r} has no server UP ({states or 'no servers'}); "
                "HAProxy would answer 503. Ready the colour or fix its servers first."
            )

    def _preflight_map(self, read: HAProxyRead, verb: str) -> None:
        o = self.opts
        if o.map_key not in read.map_entries:
            raise ActionRefused(
                f"refusing to {verb}: the map {o.map} has no entry {o.map_key!r} (router option "
                f"`map_key`). Add the line `{o.map_key} {o.backends[Colour.BLUE]}` to the map file "
                "and reload HAProxy once."
            )
        problem = map_file_problem(o.file) if o.map_file_write else None
        if problem:
            raise ActionRefused(
                f"refusing to {verb}: the map file {o.map_file} cannot be rewritten ({problem}), so "
                "the next HAProxy reload would undo it. Give the console write access there, set "
                "`map_file` to where this machine sees the file, or set `map_file_write = false` if "
                "something else keeps the file up to date."
            )

    # -- writing ------------------------------------------------------------------------------

    def _send(self, command: str, verb: str) -> None:
        """Send a command whose success is an empty answer. It may change what the socket's
        shared read saw: the next poll reads afresh."""
        try:
            answer = self._sock.command(command)
        finally:
            if self._group is not None:
                self._group.invalidate()
        text = " ".join(line.strip() for line in answer if line.strip())
        if not text:
            return
        if text.startswith("Unknown map identifier"):
            raise self._map_unknown()
        if "entry not found" in text:
            raise ActionRefused(
                f"{verb}: HAProxy has no entry {self.opts.map_key!r} in the map {self.opts.map}; "
                "nothing changed."
            )
        raise ActionRefused(f"{verb}: HAProxy answered {text!r} to `{command[:80]}`.")

    def _point_map_at(self, value: str, verb: str) -> HAProxyRead:
        """``set map``, read back (VerifyFailed if it differs), rewrite the file. Returns the read."""
        o = self.opts
        self._send(f"set map {o.map} {o.map_key} {value}", verb)
        read = self._read()
        got = read.map_entries.get(o.map_key)
        if got != value:
            raise VerifyFailed(
                f"{verb}: sent `set map {o.map} {o.map_key} {value}` but the map now reads {got!r}. "
                f"Someone else may be changing it: check `show map {o.map}`."
            )
        if o.map_file_write:
            try:
                rewrite_map_file(o.file, o.map_key, value)
            except OSError as exc:
                raise MapFileNotWritten(
                    f"HAProxy now routes {o.map_key!r} to {value} (read back), but the map file "
                    f"{o.map_file} could not be rewritten ({exc.strerror or exc}): the next reload "
                    "would undo it. Fix the file, then switch again."
                ) from None
        return read

    # -- verbs --------------------------------------------------------------------------------

    def switch(self, to: Colour) -> RouterState:
        to = Colour(to)
        if self.fleet is not None:
            return self.fleet.switch(to)
        verb = f"switch to {to}"
        with self._action_lock:
            self.switch_check(to, verb)
            after = self._point_map_at(self.opts.backends[to], verb)
            return build_state(after, self.opts, self._history)

    def switch_check(self, to: Colour, verb: str) -> HAProxyRead:
        """A switch's preflight: the target backend has a server UP, the map has the key, the map
        file can be rewritten. Returns the read (ActionRefused: nothing was changed)."""
        read = self._read(admin=False)
        self._require_up(read, to, verb)
        self._preflight_map(read, verb)
        return read

    def drain(self, colour: Colour) -> RouterState:
        return self._server_state(Colour(colour), "drain")

    def ready(self, colour: Colour) -> RouterState:
        return self._server_state(Colour(colour), "ready")

    def _server_state(self, colour: Colour, state: str) -> RouterState:
        if self.fleet is not None:
            return self.fleet.server_state(colour, state)
        verb = f"{state} {colour}"
        with self._action_lock:
            _read, names = self.server_check(colour, verb)
            after = self.server_apply(colour, state, names, verb)
            return build_state(after, self.opts, self._history)

    def server_check(self, colour: Colour, verb: str) -> tuple[HAProxyRead, list[str]]:
        """Drain/ready's preflight: the colour's backend and its servers' names."""
        backend = self.opts.backends[colour]
        read = self._read()
        names = [r["svname"] for r in read.servers(backend)]
        if backend not in read.backends or not names:
            raise ActionRefused(
                f"refusing to {verb}: HAProxy has no backend {backend!r} with servers "
                f"(router option `backends.{colour}`)."
            )
        return read, names

    def server_apply(self, colour: Colour, state: str, names: list[str], verb: str) -> HAProxyRead:
        """``set server <backend>/<name> state <state>`` for ``names``, in one line; read back."""
        backend = self.opts.backends[colour]
        self._send("; ".join(f"set server {backend}/{n} state {state}" for n in names), verb)
        after = self._read()
        wrong = []
        for n in names:
            flags = after.admin.get((backend, n))
            if flags is None:
                wrong.append(f"{n} (gone)")
            elif (state == "drain" and not flags & ADMF_FDRAIN) or (
                state == "ready" and flags & (ADMF_FDRAIN | ADMF_FMAINT)
            ):
                wrong.append(f"{n} (admin state {flags:#x})")
        if wrong:
            raise VerifyFailed(
                f"{verb}: sent `set server ... state {state}` but read back {', '.join(wrong)}."
            )
        return after

    def servers_put_back(self, colour: Colour, before: HAProxyRead, names: list[str]) -> None:
        """Undo :meth:`server_apply`: each server drained or ready as ``before`` read it."""
        backend = self.opts.backends[colour]
        cmds = [
            f"set server {backend}/{n} state "
            + ("drain" if (before.admin.get((backend, n)) or 0) & ADMF_FDRAIN else "ready")
            for n in names
        ]
        self._send("; ".join(cmds), "put back")

    def set_weights(self, weights: Mapping[Colour, int]) -> RouterState:
        split = self.opts.split_backend
        if not split:
            raise Unsupported(
                "the haproxy router has no weighted split configured (router option `split_backend`)"
            )
        asked = percent_split(weights)
        verb = f"split blue {asked[Colour.BLUE]} % / green {asked[Colour.GREEN]} %"
        if self.fleet is not None:
            return self.fleet.set_weights(asked, verb)
        with self._action_lock:
            read = self.weights_check(asked, verb)
            return self.weights_apply(asked, read, verb)

    def weights_check(self, asked: Mapping[Colour, int], verb: str) -> HAProxyRead:
        """set_weights' preflight: the split backend, its servers tracking each colour, UP."""
        split = self.opts.split_backend
        assert split is not None
        read = self._read()
        if split not in read.backends:
            raise ActionRefused(
                f"refusing to {verb}: HAProxy has no backend {split!r} (`split_backend`)."
            )
        groups = split_groups(read, self.opts)
        stray = [r["svname"] for r in groups.get(None, [])]
        if stray:
            raise ActionRefused(
                f"refusing to {verb}: servers {', '.join(stray)} of {split!r} do not `track` a "
                "server of either colour backend, so their colour is unknown."
            )
        for c in COLOURS:
            if asked[c] > 0:
                if not groups.get(c):
                    raise ActionRefused(
                        f"refusing to {verb}: {split!r} has no server tracking a server of "
                        f"{self.opts.backends[c]!r}."
                    )
                self._require_up(read, c, verb)
        if read.map_entries.get(self.opts.map_key) != split:
            self._preflight_map(read, verb)
        return read

    def weights_apply(
        self, asked: Mapping[Colour, int], read: HAProxyRead, verb: str
    ) -> RouterState:
        """Set the split servers' weights, point the map at the split backend if it is not yet;
        read back (VerifyFailed if the weights differ)."""
        split = self.opts.split_backend
        assert split is not None
        groups = split_groups(read, self.opts)
        moving = read.map_entries.get(self.opts.map_key) != split
        self._send(
            "; ".join(
                f"set weight {split}/{r['svname']} {absolute_weights(asked[c], len(groups[c]))}"
                for c in COLOURS
                for r in groups.get(c, [])
            ),
            verb,
        )
        after = self._point_map_at(split, verb) if moving else self._read()
        state = build_state(after, self.opts, self._history)
        got = {c: state.colour(c).weight for c in COLOURS}
        if any(got[c] is None or abs((got[c] or 0) - asked[c]) > 2 for c in COLOURS):
            raise VerifyFailed(f"{verb}: sent the weights but read back {got}.")
        return state

    def weights_put_back(self, before: HAProxyRead) -> None:
        """Undo :meth:`weights_apply`: the split servers' weights and the map as ``before``."""
        split = self.opts.split_backend
        assert split is not None
        cmds = [
            f"set weight {split}/{r['svname']} {int(float(r.get('uweight') or r.get('weight') or 0))}"
            for r in before.servers(split)
        ]
        if cmds:
            self._send("; ".join(cmds), "put back")
        value = before.map_entries.get(self.opts.map_key)
        if value is not None:
            self.map_put_back(value)

    def map_put_back(self, value: str) -> None:
        """Point the map key at ``value`` again and rewrite the map file to it (best effort for
        the file: OSError propagates to the caller, which names it)."""
        o = self.opts
        self._send(f"set map {o.map} {o.map_key} {value}", "put back")
        if o.map_file_write:
            rewrite_map_file(o.file, o.map_key, value)

    # -- sync ---------------------------------------------------------------------------------

    def _sync_drift(self, read: HAProxyRead, verb: str) -> tuple[str, str | None]:
        """(what HAProxy routes by, what the map file says), or ActionRefused."""
        o = self.opts
        if not o.map_file_write:
            raise ActionRefused(
                f"refusing to {verb}: router option `map_file_write = false` says something else "
                f"keeps {o.map_file} up to date; the console does not write it."
            )
        value = read.map_entries.get(o.map_key)
        if value is None:
            raise ActionRefused(
                f"refusing to {verb}: the map {o.map} has no entry {o.map_key!r} in HAProxy, so "
                "there is no routing to write down."
            )
        try:
            on_disk = read_map_file_value(o.file, o.map_key)
        except FileNotFoundError:
            on_disk = None
        except OSError as exc:
            raise ActionRefused(
                f"refusing to {verb}: cannot read the map file {o.map_file} "
                f"({exc.strerror or exc})."
            ) from None
        return value, on_disk

    def sync_preview(self) -> str | None:
        if self.fleet is not None:
            return self.fleet.sync_preview()
        read = self._read(admin=False)
        value, on_disk = self._sync_drift(read, "sync")
        if on_disk == value:
            return None
        return (
            f"map file says {on_disk or '(no entry)'}, HAProxy routes to {value}: rewrite the "
            "file, traffic does not move"
        )

    def sync(self) -> RouterState:
        o = self.opts
        verb = "sync the map file"
        if self.fleet is not None:
            return self.fleet.sync()
        with self._action_lock:
            read = self._read()
            value, _on_disk = self._sync_drift(read, verb)
            problem = map_file_problem(o.file)
            if problem:
                raise ActionRefused(
                    f"refusing to {verb}: {o.map_file} cannot be rewritten ({problem})."
                )
            try:
                rewrite_map_file(o.file, o.map_key, value)
                written = read_map_file_value(o.file, o.map_key)
            except OSError as exc:
                raise ActionRefused(
                    f"{verb}: could not rewrite {o.map_file} ({exc.strerror or exc}); HAProxy "
                    "still routes as before, the file is as it was."
                ) from None
            if written != value:
                raise VerifyFailed(
                    f"{verb}: wrote `{o.map_key} {value}` to {o.map_file} but it reads back "
                    f"{written!r}: something else writes that file."
                )
            after = self._read()
            now = after.map_entries.get(o.map_key)
            if now != value:
                raise VerifyFailed(
                    f"{verb}: wrote `{o.map_key} {value}` to {o.map_file}, but meanwhile HAProxy's "
                    f"map moved to {now!r}: someone else acted; run sync again."
                )
            return build_state(after, self.opts, self._history)

    def close(self) -> None:
        if self.fleet is not None:
            self.fleet.close()
        self._sock.close()
        if self._group is not None:
            self._group.release()
            self._group = None
