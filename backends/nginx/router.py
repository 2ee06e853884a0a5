"""The Nginx router: switches colours by rewriting a map file, validating, and reloading nginx.

Config (``[service.router]``, ``kind = "nginx"``)::

    conf = "/etc/nginx/nginx.conf"              # nginx's -c (and `prefix`, its -p, if needed)
    map = "/etc/nginx/backend.map"              # included in `map ... $backend { include ...; }`
    map_key = "default"                         # the map key whose value names the live upstream
    pid_file = "/run/nginx.pid"                 # as `pid` in nginx's config
    probe_url = "http://127.0.0.1/"             # optional: a request that names the colour
    probe_header = "X-Colour"                   # ... in this header (unset: in the body)
    stub_status_url = "http://127.0.0.1:8081/stub_status"   # optional
    [service.router.upstreams]
    blue = "blue"
    green = "green"
    [service.router.upstream_files]
    blue = "/etc/nginx/upstreams/blue.conf"
    green = "/etc/nginx/upstreams/green.conf"

The package: ``options`` (the typed options), ``io`` (files, procfs, the nginx binary, HTTP).
Nothing here imports Textual, ``console`` or ``widgets``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    BackendError,
    Colour,
    ColourState,
    Conflict,
    PermissionDenied,
    Router,
    RouterState,
    ServerState,
    ServerStatus,
    Unreachable,
    Unsupported,
    VerifyFailed,
)
from backends.nginx.io import (
    Dump,
    ServerLine,
    Worker,
    http_get,
    map_value,
    nginx_binary,
    nginx_message,
    parse_dump,
    parse_servers,
    parse_stub_status,
    read_master_pid,
    read_text,
    replace_file,
    run_nginx,
    tcp_open,
    uptime,
    with_down,
    with_map_value,
    workers,
    write_problem,
)
from backends.nginx.options import NginxOptions, load_options

__all__ = ["NginxRouter"]

#: a file written this long after the newest workers started was not loaded by them
RELOAD_SLACK = 0.05


@dataclass(frozen=True)
class NginxRead:
    """One read of the files and the processes."""

    master: int
    workers: tuple[Worker, ...]
    map_text: str
    value: str | None
    servers: Mapping[Colour, tuple[ServerLine, ...]]
    texts: Mapping[Colour, str]
    reachable: Mapping[str, bool]
    pending: tuple[str, ...]  # files changed after the newest workers started
    generation_age: float | None  # seconds since the newest workers started

    @property
    def current(self) -> frozenset[int]:
        return frozenset(w.pid for w in self.workers if not w.shutting_down)

    @property
    def old(self) -> int:
        return sum(1 for w in self.workers if w.shutting_down)


class NginxRouter(Router):
    """Nginx, through its files and its master process (nginx has no runtime API).

    What each verb does on Nginx:

    * **switch** ``to``: the ``map_key`` line of the map file is rewritten to name ``upstreams[to]``
      (a temporary file, then rename), ``nginx -t`` validates the config with the new file (on
      failure the old file is put back and the switch is refused with nginx's own message), then
      nginx reloads (SIGHUP to the master, or ``nginx -s reload``). Read back: the master's new
      generation of workers is up (none of the workers from before the reload is still a plain
      worker) and, with ``probe_url``, a request on a new connection reaches ``to``. Requests in
      flight finish on the old workers, which serve nothing new; a kept-alive connection of an old
      worker is closed after its current request. Refused before anything changes when nginx is not
      running, when nginx's config (``nginx -T``) does not include the map or upstream files or
      defines no such upstream (a map value naming an unknown upstream makes nginx look it up as a
      host name: 502 for every request), when the config fails ``nginx -t`` already, or when the
      map file cannot be written.
    * **drain** ``colour``: ``down`` is added to every ``server`` line of the colour's upstream
      include file, validated and reloaded as a switch is: the new workers send it nothing, the old
      ones finish their in-flight requests.
    * **ready** ``colour``: ``down`` is removed again, validated and reloaded.
    * **weights**: unsupported (``SUPPORTS_WEIGHTS = False``): a map names one upstream; a split
      would need a third upstream (or ``split_clients``), which this router does not keep.
    * **rollback** is not a verb of the router: the console switches back to the colour recorded
      before the last switch in its audit log (re-readying it first if it was drained).

    ``state()`` reads the map and include files, the master's pid file and its workers (procfs),
    ``stub_status`` when configured, and (``check_servers``) opens a TCP connection to each server
    (nginx's open-source edition has no health checks to ask): a server with ``down`` is DRAIN, one
    that refuses is DOWN. The header says when a file changed after the newest workers started (a
    reload that has not happened: nginx still routes by the older files), and when old workers are
    still alive ``old_workers_after`` seconds after the last reload, with their count.
    """

    kind = "nginx"
    SUPPORTS_WEIGHTS = False
    SUPPORTS_SYNC = False

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self.opts: NginxOptions = load_options(options, context)
        self._action_lock = threading.Lock()  # one verb at a time; state() may run alongside

    @property
    def identity(self) -> str:
        """``nginx CONF map MAP key KEY``: the config and the map entry this router moves."""
        o = self.opts
        return f"nginx {o.conf} map {o.map} key {o.map_key}"

    def _no_sync(self) -> str:
        return (
            f"the {self.kind} router keeps no routing config apart from nginx's own files, which "
            "it writes and reloads at every verb, so there is nothing to sync (a file changed "
            "without a reload is shown in the header: reload nginx)"
        )

    # -- reading ------------------------------------------------------------------------------

    def _read(self) -> NginxRead:
        o = self.opts
        master = read_master_pid(o.pid_file)
        ws = tuple(workers(master))
        map_text = read_text(o.map, "map file (router option `map`)")
        texts = {
            c: read_text(o.upstream_files[c], f"upstream file of {c} (`upstream_files.{c}`)")
            for c in COLOURS
        }
        servers = {c: tuple(parse_servers(texts[c])) for c in COLOURS}
        reachable: dict[str, bool] = {}
        if o.check_servers:
            addresses = sorted({s.address for c in COLOURS for s in servers[c]})
            if addresses:
                limit = min(0.5, o.timeout / 4)
                with ThreadPoolExecutor(max_workers=min(8, len(addresses))) as pool:
                    found = pool.map(lambda a: tcp_open(a, limit), addresses)
                    reachable = dict(zip(addresses, found, strict=True))
        pending: list[str] = []
        age: float | None = None
        current = [w for w in ws if not w.shutting_down]
        if current:
            up = uptime()
            age = up - max(w.started for w in current)
            started_wall = time.time() - age
            for path in (o.map, *(o.upstream_files[c] for c in COLOURS)):
                try:
                    if os.stat(path).st_mtime > started_wall + RELOAD_SLACK:
                        pending.append(path)
                except OSError:
                    pass
        return NginxRead(
            master=master,
            workers=ws,
            map_text=map_text,
            value=map_value(map_text, o.map_key),
            servers=servers,
            texts=texts,
            reachable=reachable,
            pending=tuple(pending),
            generation_age=age,
        )

    def _status(self, line: ServerLine, read: NginxRead) -> ServerStatus:
        if line.down:
            return ServerStatus.DRAIN
        if not self.opts.check_servers:
            return ServerStatus.UP
        return ServerStatus.UP if read.reachable.get(line.address, False) else ServerStatus.DOWN

    def _build(self, read: NginxRead) -> RouterState:
        o = self.opts
        live = next((c for c in COLOURS if read.value == o.upstreams[c]), None)
        detail: dict[str, str] = {
            "map": o.map,
            "map_key": o.map_key,
            "upstream": read.value if read.value is not None else "(no entry)",
            "master": str(read.master),
            "workers": f"{len(read.current)}" + (f" (+{read.old} old)" if read.old else ""),
        }
        if live is None:
            detail["problem"] = (
                f"the map has no entry {o.map_key!r}"
                if read.value is None
                else f"the map names {read.value!r}, which is neither colour's upstream"
            )
        # The console's header shows "problem" and "warning" (console/fmt.py ROUTER_NOTICES).
        warnings: list[str] = []
        if read.pending:
            warnings.append(
                f"reload pending: {', '.join(read.pending)} changed after nginx's last reload, so nginx "
                "still routes by the older files: reload nginx (`nginx -s reload`) to apply them"
            )
        if (
            read.old
            and read.generation_age is not None
            and read.generation_age >= o.old_workers_after
        ):
            warnings.append(
                f"{read.old} old worker{'s' if read.old != 1 else ''} still alive "
                f"{read.generation_age:.0f} s after the last reload, serving connections opened "
                "before it (long requests, websockets); set `worker_shutdown_timeout` in nginx's "
                "config to bound them"
            )
        if warnings:
            detail["warning"] = "; ".join(warnings)
        if o.stub_status_url:
            try:
                _, _, body = http_get(o.stub_status_url, min(1.0, o.timeout))
                stub = parse_stub_status(body)
                detail["connections"] = (
                    f"active {stub['active']}, requests {stub['requests']}"
                    if stub
                    else f"{o.stub_status_url} is not a stub_status page"
                )
            except BackendError as exc:
                detail["connections"] = f"stub_status unreadable: {exc}"

        colours: dict[Colour, ColourState] = {}
        fingerprint = [f"map={read.value}"]
        for c in COLOURS:
            lines = read.servers[c]
            servers = tuple(
                ServerState(name=s.name, status=self._status(s, read), weight=s.weight)
                for s in lines
            )
            colours[c] = ColourState(
                colour=c,
                servers=servers,
                draining=bool(lines) and all(s.down for s in lines),
                detail={"upstream": o.upstreams[c], "file": o.upstream_files[c]},
            )
            fingerprint.append(
                f"{c}:" + ",".join(f"{s.address}={s.down}/{s.weight}" for s in lines)
            )
        return RouterState(
            live=live, colours=colours, fingerprint="|".join(fingerprint), detail=detail
        )

    def state(self) -> RouterState:
        return self._build(self._read())

    # -- the config, as nginx sees it -----------------------------------------------------------

    def _nginx(self, args: list[str]) -> tuple[int, str, str]:
        o = self.opts
        return run_nginx(nginx_binary(o.nginx), o.conf, o.prefix, args, max(o.timeout, 5.0))

    def _dump(self, verb: str) -> Dump:
        """``nginx -T``: refused when the config fails already, or does not hold our files and
        upstreams."""
        o = self.opts
        rc, out, err = self._nginx(["-T", "-q"])
        if rc != 0:
            raise ActionRefused(
                f"refusing to {verb}: nginx's config fails `nginx -t` before any change: "
                f"{nginx_message(err)}. Fix the config first."
            )
        dump = parse_dump(out)
        if o.map not in dump.files:
            raise ActionRefused(
                f"refusing to {verb}: nginx's config ({o.conf}) does not include the map file "
                f"{o.map} (router option `map`): it must be the file included in the `map` block, "
                "e.g. `map $host $backend { include " + o.map + "; }`."
            )
        for c in COLOURS:
            if o.upstream_files[c] not in dump.files:
                raise ActionRefused(
                    f"refusing to {verb}: nginx's config does not include {o.upstream_files[c]} "
                    f"(router option `upstream_files.{c}`), so `down` written there would change "
                    "nothing."
                )
            if o.upstreams[c] not in dump.upstreams:
                known = ", ".join(sorted(dump.upstreams)) or "none"
                raise ActionRefused(
                    f"refusing to {verb}: nginx's config defines no upstream {o.upstreams[c]!r} "
                    f"(router option `upstreams.{c}`); a map value naming an unknown upstream "
                    f"makes nginx look it up as a host name (502 for every request). Upstreams "
                    f"nginx has: {known}."
                )
        return dump

    def _writable(self, path: str, what: str, verb: str) -> None:
        problem = write_problem(path)
        if problem:
            raise PermissionDenied(
                f"refusing to {verb}: permission denied writing the {what} {path}: {problem}. "
                "Give the console's user write access to that directory; nothing changed."
            )

    def _write_validated(self, path: str, old: str, new: str, what: str, verb: str) -> None:
        """Write ``new`` over ``path``, then ``nginx -t``; on failure put ``old`` back and refuse."""
        replace_file(path, new, what)
        rc, _, err = self._nginx(["-t", "-q"])
        if rc != 0:
            replace_file(path, old, what)
            raise ActionRefused(
                f"refusing to {verb}: with the new {what} nginx's config fails `nginx -t`: "
                f"{nginx_message(err)}. The old file is back; nginx was not reloaded."
            )

    def _reload(self, before: NginxRead, verb: str) -> NginxRead:
        """Reload nginx and wait until its new generation of workers is up; the read after it."""
        o = self.opts
        if o.reload == "command":
            rc, _, err = self._nginx(["-s", "reload"])
            if rc != 0:
                raise VerifyFailed(f"{verb}: `nginx -s reload` failed: {nginx_message(err)}.")
        else:
            try:
                os.kill(before.master, signal.SIGHUP)
            except ProcessLookupError:
                raise Unreachable(
                    f"{verb}: nginx's master (pid {before.master}) is gone: nginx stopped."
                ) from None
            except PermissionError:
                raise PermissionDenied(
                    f"{verb}: not allowed to signal nginx's master (pid {before.master}): run the "
                    'console as nginx\'s user or root, or set `reload = "command"` with sudo rules.'
                ) from None
        deadline = time.monotonic() + 2 * o.timeout
        current: set[int] = set(before.current)
        while True:
            if not os.path.exists(f"/proc/{before.master}"):
                raise Unreachable(f"{verb}: nginx's master (pid {before.master}) exited on reload.")
            current = {w.pid for w in workers(before.master) if not w.shutting_down}
            if current and not (current & before.current):
                return self._read()
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        tail = ""
        if o.error_log:
            try:
                with open(o.error_log, encoding="utf-8", errors="replace") as fh:
                    lines = fh.read().splitlines()[-3:]
                tail = " Its error log ends: " + " | ".join(lines)
            except OSError:
                pass
        raise VerifyFailed(
            f"{verb}: nginx started no new workers within {2 * o.timeout:g} s of the reload (workers "
            f"{sorted(current)} are from before): it still routes by its old config.{tail}"
        )

    def _probe(self, to: Colour, verb: str) -> None:
        """Until a request through nginx reaches ``to`` (or VerifyFailed at the deadline)."""
        o = self.opts
        if not o.probe_url:
            return
        deadline = time.monotonic() + 2 * o.timeout
        last = "no answer"
        while True:
            try:
                status, headers, body = http_get(o.probe_url, min(1.0, o.timeout))
                text = headers.get(o.probe_header.lower(), "") if o.probe_header else body
                found = [c for c in COLOURS if o.probe_match[c] in text]
                if found == [to]:
                    return
                last = f"HTTP {status}, " + (
                    f"{o.probe_header}: {text[:40]!r}" if o.probe_header else f"body {text[:40]!r}"
                )
            except BackendError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        raise VerifyFailed(
            f"{verb}: nginx reloaded (new workers up), but the probe {o.probe_url} does not reach "
            f"{to} within {2 * o.timeout:g} s (last: {last})."
        )

    # -- verbs --------------------------------------------------------------------------------

    def switch(self, to: Colour) -> RouterState:
        to = Colour(to)
        o = self.opts
        verb = f"switch to {to}"
        with self._action_lock:
            read = self._read()
            self._dump(verb)
            if read.servers[to] and all(s.down for s in read.servers[to]):
                raise ActionRefused(
                    f"refusing to {verb}: every server of {to} is `down` in "
                    f"{o.upstream_files[to]}: nginx would answer 502. Ready {to} first."
                )
            self._writable(o.map, "map file", verb)
            now = read_text(o.map, "map file")
            if now != read.map_text:
                raise Conflict(
                    f"{verb}: the map file {o.map} changed since it was read (someone else wrote "
                    "it); nothing was written. Look again and retry."
                )
            new = with_map_value(read.map_text, o.map_key, o.upstreams[to])
            self._write_validated(o.map, read.map_text, new, "map file", verb)
            after = self._reload(read, verb)
            if after.value != o.upstreams[to]:
                raise VerifyFailed(
                    f"{verb}: wrote `{o.map_key} {o.upstreams[to]};` to {o.map} but it reads back "
                    f"{after.value!r}: something else writes that file."
                )
            self._probe(to, verb)
            return self._build(self._read())

    def drain(self, colour: Colour) -> RouterState:
        return self._set_down(Colour(colour), True)

    def ready(self, colour: Colour) -> RouterState:
        return self._set_down(Colour(colour), False)

    def _set_down(self, colour: Colour, down: bool) -> RouterState:
        o = self.opts
        path = o.upstream_files[colour]
        verb = f"{'drain' if down else 'ready'} {colour}"
        with self._action_lock:
            read = self._read()
            if not read.servers[colour]:
                raise ActionRefused(
                    f"refusing to {verb}: {path} has no `server` line (router option "
                    f"`upstream_files.{colour}`)."
                )
            self._dump(verb)
            self._writable(path, f"upstream file of {colour}", verb)
            old = read.texts[colour]
            self._write_validated(
                path, old, with_down(old, down), f"upstream file of {colour}", verb
            )
            after = self._reload(read, verb)
            wrong = [s.address for s in after.servers[colour] if s.down != down]
            if wrong:
                raise VerifyFailed(
                    f"{verb}: wrote {path} but {', '.join(wrong)} read back "
                    f"{'without' if down else 'with'} `down`: something else writes that file."
                )
            return self._build(after)

    def set_weights(self, weights: Mapping[Colour, int]) -> RouterState:
        raise Unsupported(
            "the nginx router has no weighted split configured: its map names one upstream"
        )
