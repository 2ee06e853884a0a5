"""The lab's stack: what ``bluegreen lab up`` starts, how it is recorded, and how it is stopped.

Everything listens on 127.0.0.1 only, on free ports picked at ``up`` and recorded in
``<dir>/state.json``:

* two fleets: blue v1 and green v2, two instances each (``python -m console.lab.fleet``);
* HAProxy: a frontend routing every path through ``map_beg(<dir>/backend.map)`` (key ``/``) to
  ``bg_blue`` or ``bg_green``, an admin socket ``<dir>/admin.sock``, and a second frontend serving
  HAProxy's Prometheus exporter at ``/metrics`` and its stats page at ``/stats``;
* Prometheus scraping the four fleet instances and HAProxy every second, storage in ``<dir>``;
* a bounded load generator: ``--rate`` requests per second through HAProxy for ``--duration`` s.

With ``services=2`` (``up --services 2``) there are two services, ``shop`` and ``cart``, behind the
same HAProxy: each with its own two fleets, its own backends and its own map (``<dir>/shop.map``, key
``/shop``, routing the path ``/shop``), Prometheus labelling each fleet ``service="shop"`` (or
``"cart"``), and the load generator sending ``--rate`` to each (:mod:`console.lab.layout`).

Each is a detached background process (its own session, output in ``<dir>/logs``). ``down`` stops
exactly the pids ``up`` recorded, after checking that each pid is still the same process (same
command line and start time in ``/proc``), then removes the state.

The parts: :mod:`console.lab.state` (layout, ``state.json``), :mod:`console.lab.layout` (the services,
fleets and ports of a new lab), :mod:`console.lab.procs` (processes, ``/proc``, tools, ports),
:mod:`console.lab.configs` (haproxy.cfg, prometheus.yml, console.toml), :mod:`console.lab.net`
(HTTP, the admin socket) and :mod:`console.lab.live` (``fault`` and ``status`` on a running lab);
this module runs ``up`` and ``down`` and re-exports them all.

No Textual here: the CLI calls these functions, the tests and the benchmark too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from console.lab.configs import console_config, haproxy_config, prometheus_config
from console.lab.layout import check_services, plan
from console.lab.live import fault, require, status
from console.lab.net import haproxy_command, http, live_backend, set_live
from console.lab.procs import ensure_tools, find_tool, free_ports, is_ours, spawn, stop, tail
from console.lab.state import (
    BACKENDS,
    DEFAULT_DIR,
    INSTANCES,
    MAP_KEY,
    MAX_SERVICES,
    QUERY_WINDOW,
    SCRAPE_INTERVAL,
    SERVICE,
    SERVICE_LABEL,
    SERVICE_NAMES,
    STATE_FILE,
    TOOLS,
    VERSIONS,
    LabError,
    LabService,
    LabState,
    Proc,
    Say,
    resolve_dir,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_DIR",
    "INSTANCES",
    "MAP_KEY",
    "MAX_SERVICES",
    "QUERY_WINDOW",
    "SCRAPE_INTERVAL",
    "SERVICE",
    "SERVICE_LABEL",
    "SERVICE_NAMES",
    "STATE_FILE",
    "TOOLS",
    "VERSIONS",
    "LabError",
    "LabService",
    "LabState",
    "Proc",
    "Say",
    "console_config",
    "down",
    "ensure_tools",
    "fault",
    "find_tool",
    "free_ports",
    "haproxy_command",
    "haproxy_config",
    "http",
    "is_ours",
    "live_backend",
    "prometheus_config",
    "require",
    "resolve_dir",
    "running",
    "set_live",
    "spawn",
    "status",
    "stop",
    "tail",
    "up",
]

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./@+-]+$")  # no space, comma or parenthesis: HAProxy syntax


def _wait(what: str, check: Callable[[], bool], timeout: float, procs: list[Proc]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if not is_ours(p):
                raise LabError(f"{p.name} stopped while starting:\n{tail(p.log)}")
        if check():
            return
        time.sleep(0.1)
    raise LabError(f"{what} did not come up within {timeout:g} s")


# --------------------------------------------------------------------------------------------------
# The verbs


def running(state: LabState) -> list[Proc]:
    return [p for p in state.processes if is_ours(p)]


def up(
    lab_dir: str | os.PathLike[str] | None = None,
    *,
    duration: float = 3600.0,
    rate: float = 50.0,
    install: bool = True,
    services: int = 1,
    say: Say = print,
) -> LabState:
    """Start the whole stack in the background and record it; refuse if this dir's lab is up.
    ``services``: 1 (the lab), or 2 (``shop`` and ``cart`` behind the one HAProxy)."""
    check_services(services)
    root = resolve_dir(lab_dir)
    existing = LabState.load(root)
    if existing is not None:
        alive = running(existing)
        if alive:
            names = ", ".join(f"{p.name} (pid {p.pid})" for p in alive)
            raise LabError(
                f"the lab in {root} is already up ({names}). Stop it first: "
                f"bluegreen lab down --dir {root}"
            )
        say(f"found a stale lab state in {root} (none of its processes runs); replacing it")
        _remove_state(root, existing)
    if not _SAFE_PATH.match(str(root)):
        raise LabError(
            f"the lab dir {root} holds characters HAProxy's config cannot take (space, comma, "
            "parenthesis...): choose another with --dir"
        )
    if duration <= 0 or rate <= 0:
        raise LabError("--duration and --rate must be above 0")
    tools = ensure_tools(install, say)

    root.mkdir(parents=True, exist_ok=True)
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    state = plan(root, services, duration=duration, rate=rate)
    ports = state.ports
    for svc in state.layout():
        Path(svc.map).write_text(f"{svc.map_key} {svc.backends['blue']}\n")
    cfg = root / "haproxy.cfg"
    cfg.write_text(haproxy_config(state))
    prom_cfg = root / "prometheus.yml"
    prom_cfg.write_text(prometheus_config(state))
    check = subprocess.run(
        [tools["haproxy"], "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise LabError(f"HAProxy rejects the lab's config {cfg}:\n{check.stdout}{check.stderr}")
    state.save()

    try:
        say(f"starting the lab in {root}")
        for svc in state.layout():
            for colour, inst in ((c, i) for c in svc.fleet for i in svc.fleet[c]):
                cmd = [
                    sys.executable,
                    "-m",
                    "console.lab.fleet",
                    "--colour",
                    colour,
                    "--version",
                    VERSIONS[colour],
                    "--name",
                    inst["name"],
                    "--port",
                    str(inst["port"]),
                ]
                state.processes.append(spawn(f"fleet-{inst['name']}", cmd, logs, _project_root()))
                state.save()
        _wait(
            "the fleets",
            lambda: all(
                http(i["url"] + "/healthz", timeout=0.5)[0] == 200 for i in state.instances()
            ),
            15,
            state.processes,
        )
        state.processes.append(
            spawn("haproxy", [tools["haproxy"], "-db", "-f", str(cfg)], logs, root)
        )
        state.save()
        _wait(
            "HAProxy",
            lambda: http(state.url_of(state.layout()[0]), timeout=0.5)[0] == 200,
            15,
            state.processes,
        )
        prom_cmd = [
            tools["prometheus"],
            f"--config.file={prom_cfg}",
            f"--storage.tsdb.path={root / 'prometheus-data'}",
            "--storage.tsdb.retention.time=6h",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--log.level=warn",
        ]
        state.processes.append(spawn("prometheus", prom_cmd, logs, root))
        state.save()
        _wait(
            "Prometheus",
            lambda: http(state.prometheus_url + "/-/ready", timeout=0.5)[0] == 200,
            30,
            state.processes,
        )
        # The notification receiver the lab's [notify] points at (console.lab.receiver)
        receiver_cmd = [
            sys.executable,
            "-m",
            "console.lab.receiver",
            "--port",
            str(ports["notify"]),
            "--out",
            str(state.notifications),
            "--duration",
            f"{duration + 3600:g}",
        ]
        state.processes.append(spawn("notify-receiver", receiver_cmd, logs, _project_root()))
        state.save()
        _wait(
            "the notification receiver",
            lambda: http(f"http://127.0.0.1:{ports['notify']}/", timeout=0.5)[0] != 0,
            15,
            state.processes,
        )
        Path(state.notify_urls).write_text(f"json://127.0.0.1:{ports['notify']}/lab\n")
        load_cmd = [
            sys.executable,
            "-m",
            "console.lab.load",
            *(arg for svc in state.layout() for arg in ("--url", state.url_of(svc))),
            "--rate",
            f"{rate:g}",
            "--duration",
            f"{duration:g}",
        ]
        state.processes.append(spawn("load", load_cmd, logs, _project_root()))
        state.save()
    except BaseException:
        say("the lab did not start; stopping what was started")
        _stop_all(state, say)
        _remove_state(root, state)
        raise
    Path(state.console_config).write_text(console_config(state))
    return state


def down(lab_dir: str | os.PathLike[str] | None = None, *, say: Say = print) -> LabState | None:
    """Stop exactly the processes ``up`` recorded (if still theirs) and remove the state."""
    root = resolve_dir(lab_dir)
    state = LabState.load(root)
    if state is None:
        say(f"no lab in {root} (no {STATE_FILE}); nothing to stop")
        return None
    _stop_all(state, say)
    _remove_state(root, state)
    say(f"lab in {root} stopped and its state removed")
    return state


def _stop_all(state: LabState, say: Say) -> None:
    # The load first (no errors logged while its target goes), then everything else in reverse.
    for proc in reversed(state.processes):
        outcome = stop(proc)
        say(f"  {proc.name} (pid {proc.pid}): {outcome}")


def _remove_state(root: Path, state: LabState) -> None:
    maps = [Path(svc.map) for svc in state.layout()]
    for name in (
        "console.toml",
        "notify-urls",
        "notifications.jsonl",
        "haproxy.cfg",
        "prometheus.yml",
        *(m.name for m in maps),
        *(m.with_suffix(".tmp").name for m in maps),
        "admin.sock",
        STATE_FILE,
    ):
        (root / name).unlink(missing_ok=True)
    for name in ("prometheus-data", "logs"):
        shutil.rmtree(root / name, ignore_errors=True)
    if state.runtime_dir:
        shutil.rmtree(state.runtime_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()  # only when nothing else is in it


def _project_root() -> Path:
    """Where ``python -m console.lab.fleet`` resolves (the package may be an editable install)."""
    return Path(__file__).resolve().parents[2]
