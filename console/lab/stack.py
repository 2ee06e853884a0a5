"""The lab's stack: what ``bluegreen lab up`` starts, how it is recorded, and how it is stopped.

Everything listens on 127.0.0.1 only, on free ports picked at ``up`` and recorded in
``<dir>/state.json``:

* two fleets: blue v1 and green v2, two instances each (``python -m console.lab.fleet``);
* HAProxy: a frontend routing every path through ``map_beg(<dir>/backend.map)`` (key ``/``) to
  ``bg_blue`` or ``bg_green``, an admin socket ``<dir>/admin.sock``, and a second frontend serving
  HAProxy's Prometheus exporter at ``/metrics`` and its stats page at ``/stats``;
* Prometheus scraping the four fleet instances and HAProxy every second, storage in ``<dir>``;
* a bounded load generator: ``--rate`` requests per second through HAProxy for ``--duration`` s.

Each is a detached background process (its own session, output in ``<dir>/logs``). ``down`` stops
exactly the pids ``up`` recorded, after checking that each pid is still the same process (same
command line and start time in ``/proc``), then removes the state.

No Textual here: the CLI calls these functions, the tests and the benchmark too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DIR = ".lab"
STATE_FILE = "state.json"
SERVICE = "lab"
MAP_KEY = "/"
BACKENDS = {"blue": "bg_blue", "green": "bg_green"}
VERSIONS = {"blue": "v1", "green": "v2"}
INSTANCES = 2
SCRAPE_INTERVAL = "1s"
QUERY_WINDOW = "10s"  # the console's rate window for the lab (see the README, "Prometheus metrics and the lab")
TOOLS = {"haproxy": "haproxy", "prometheus": "prometheus"}  # binary -> Debian package
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./@+-]+$")  # no space, comma or parenthesis: HAProxy syntax


class LabError(Exception):
    """Something a person must act on; the message says what and how."""


Say = Callable[[str], None]


# --------------------------------------------------------------------------------------------------
# State


@dataclass
class Proc:
    name: str
    pid: int
    cmdline: list[str]
    start_ticks: str  # field 22 of /proc/<pid>/stat: tells a reused pid from ours
    log: str


@dataclass
class LabState:
    dir: str
    started: float
    ports: dict[str, int]
    socket: str
    map: str
    fleet: dict[str, list[dict[str, Any]]]
    processes: list[Proc] = field(default_factory=list)
    runtime_dir: str | None = None  # a short /tmp dir for the socket when <dir> is too long
    duration: float = 3600.0
    rate: float = 50.0

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['frontend']}/"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    @property
    def haproxy_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['haproxy_metrics']}/metrics"

    @property
    def haproxy_stats_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['haproxy_metrics']}/stats"

    @property
    def console_config(self) -> str:
        return str(Path(self.dir) / "console.toml")

    def instances(self, colour: str | None = None) -> list[dict[str, Any]]:
        colours = [colour] if colour else list(self.fleet)
        return [inst for c in colours for inst in self.fleet.get(c, [])]

    def save(self) -> None:
        path = Path(self.dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        data = asdict(self)
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, lab_dir: Path) -> LabState | None:
        path = lab_dir / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise LabError(f"cannot read the lab's state {path}: {exc}") from None
        data["processes"] = [Proc(**p) for p in data.get("processes", [])]
        return cls(**data)


def resolve_dir(lab_dir: str | os.PathLike[str] | None) -> Path:
    return Path(lab_dir or DEFAULT_DIR).expanduser().resolve()


# --------------------------------------------------------------------------------------------------
# Processes


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    return [raw[: raw.index("(")].strip(), "comm", *raw[raw.rindex(")") + 2 :].split()]


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_ours(proc: Proc) -> bool:
    """The pid still runs the process ``up`` started (not a zombie, not a reused pid)."""
    stat = _proc_stat(proc.pid)
    if stat is None or stat[2] == "Z":
        return False
    return stat[21] == proc.start_ticks and _cmdline(proc.pid) == proc.cmdline


def spawn(name: str, cmd: list[str], log_dir: Path, cwd: Path) -> Proc:
    """Start ``cmd`` detached (own session, no terminal), output appended to ``<log_dir>/<name>.log``."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    # /proc shows the new command line once exec has happened; wait for it (bounded).
    deadline = time.monotonic() + 5
    stat, cmdline = _proc_stat(popen.pid), _cmdline(popen.pid)
    while time.monotonic() < deadline and cmdline != cmd and popen.poll() is None:
        time.sleep(0.01)
        stat, cmdline = _proc_stat(popen.pid), _cmdline(popen.pid)
    if popen.poll() is not None or stat is None:
        raise LabError(f"{name} exited at once (status {popen.returncode}):\n{tail(log_path)}")
    return Proc(name, popen.pid, cmdline or cmd, stat[21], str(log_path))


def stop(proc: Proc, timeout: float = 10.0) -> str:
    """SIGTERM, then SIGKILL after ``timeout``; only if the pid is still ours. Returns what happened."""
    if not is_ours(proc):
        _reap(proc.pid)
        return "already stopped"
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return "already stopped"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(proc.pid)
        if not is_ours(proc):
            return "stopped"
        time.sleep(0.05)
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    for _ in range(100):
        _reap(proc.pid)
        if not is_ours(proc):
            break
        time.sleep(0.05)
    return "killed (did not stop on SIGTERM)"


def _reap(pid: int) -> None:
    """Collect our own child's exit status (when ``up`` ran in this process), else do nothing."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join("    " + line for line in text) or "    (empty log)"


# --------------------------------------------------------------------------------------------------
# Tools


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        p = Path(d) / name
        if os.access(p, os.X_OK):
            return str(p)
    return None


def ensure_tools(install: bool, say: Say) -> dict[str, str]:
    """Paths of haproxy and prometheus; installs Debian's packages with apt-get when missing."""
    missing = [b for b in TOOLS if find_tool(b) is None]
    if missing and not install:
        pkgs = " ".join(TOOLS[b] for b in missing)
        raise LabError(f"{', '.join(missing)} not installed: run `sudo apt-get install -y {pkgs}`")
    if missing:
        pkgs = [TOOLS[b] for b in missing]
        cmd = ["apt-get", "install", "-y", *pkgs]
        if os.geteuid() != 0:
            if not shutil.which("sudo"):
                raise LabError(f"{', '.join(missing)} not installed; as root run: {' '.join(cmd)}")
            cmd = ["sudo", *cmd]
        if not shutil.which("apt-get"):
            raise LabError(
                f"{', '.join(missing)} not installed and apt-get is not available: install "
                f"{', '.join(pkgs)} with this system's package manager"
            )
        say(
            f"{', '.join(missing)} not installed: installing Debian's package(s) with `{' '.join(cmd)}` "
            "(the lab starts its own processes; it does not use the system service)"
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(cmd, env=env, check=False)
        if done.returncode != 0:
            raise LabError(
                f"`{' '.join(cmd)}` failed (status {done.returncode}); try `sudo apt-get update` first"
            )
    tools = {b: find_tool(b) for b in TOOLS}
    for b, path in tools.items():
        if path is None:
            raise LabError(f"{b} is still not on PATH after installing {TOOLS[b]}")
    return {b: str(p) for b, p in tools.items()}


def free_ports(names: list[str]) -> dict[str, int]:
    """Distinct free ports on 127.0.0.1, one per name (all held open until every one is picked)."""
    held: list[socket.socket] = []
    try:
        for _ in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return {n: int(s.getsockname()[1]) for n, s in zip(names, held, strict=True)}
    finally:
        for s in held:
            s.close()


# --------------------------------------------------------------------------------------------------
# Config files


def haproxy_config(state: LabState) -> str:
    servers = {
        colour: "\n".join(
            f"    server {inst['name']} 127.0.0.1:{inst['port']} check inter 1s fall 2 rise 1"
            for inst in state.fleet[colour]
        )
        for colour in BACKENDS
    }
    return f"""# Written by `bluegreen lab up`. Everything binds 127.0.0.1.
global
    stats socket {state.socket} mode 600 level admin
    stats timeout 30s
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option idle-close-on-response

frontend fe_lab
    bind 127.0.0.1:{state.ports["frontend"]}
    # The live colour is the value of the map entry "{MAP_KEY}": `set map` switches it at run time.
    use_backend %[path,map_beg({state.map},{BACKENDS["blue"]})]
    default_backend {BACKENDS["blue"]}

backend {BACKENDS["blue"]}
    option httpchk GET /healthz
    http-check expect status 200
{servers["blue"]}

backend {BACKENDS["green"]}
    option httpchk GET /healthz
    http-check expect status 200
{servers["green"]}

frontend fe_metrics
    bind 127.0.0.1:{state.ports["haproxy_metrics"]}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 5s
"""


def prometheus_config(state: LabState) -> str:
    """prometheus.yml as JSON (YAML's subset). No target label named like a metric's own label."""
    fleet_targets = [f"127.0.0.1:{inst['port']}" for inst in state.instances()]
    config = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {
                "job_name": "fleet",
                "static_configs": [{"targets": fleet_targets, "labels": {"lab": SERVICE}}],
            },
            {
                "job_name": "haproxy",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{state.ports['haproxy_metrics']}"],
                        "labels": {"lab": SERVICE},
                    }
                ],
            },
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def console_config(state: LabState) -> str:
    return f"""# Written by `bluegreen lab up` for the lab in {state.dir}.
# Open the console on it:  bluegreen watch --config {state.console_config}
# Stop the lab:            bluegreen lab down --dir {state.dir}

[[service]]
name = {_toml_str(SERVICE)}
poll_interval = 1.0
bake_seconds = 60

[service.router]
kind = "haproxy"
socket = {_toml_str(state.socket)}
map = {_toml_str(state.map)}
map_key = {_toml_str(MAP_KEY)}
backends.blue = {_toml_str(BACKENDS["blue"])}
backends.green = {_toml_str(BACKENDS["green"])}

[service.metrics]
kind = "prometheus"
url = {_toml_str(state.prometheus_url)}
window = {_toml_str(QUERY_WINDOW)}
sessions_backends.blue = {_toml_str(BACKENDS["blue"])}
sessions_backends.green = {_toml_str(BACKENDS["green"])}
"""


# --------------------------------------------------------------------------------------------------
# HTTP and the admin socket


def http(url: str, method: str = "GET", timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of one request; (0, reason) when nothing answered."""
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - 127.0.0.1 only
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def haproxy_command(sock_path: str, command: str, timeout: float = 2.0) -> str:
    """Send one command to HAProxy's admin socket and return its whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def live_backend(state: LabState) -> str | None:
    """The backend the map entry ``/`` names now (HAProxy's memory, not the file)."""
    answer = haproxy_command(state.socket, f"show map {state.map}")
    for line in answer.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == MAP_KEY:
            return parts[2]
    return None


def set_live(state: LabState, colour: str) -> None:
    """Point the map entry ``/`` at ``colour``'s backend, in HAProxy and in the map file."""
    answer = haproxy_command(state.socket, f"set map {state.map} {MAP_KEY} {BACKENDS[colour]}")
    if answer.strip():
        raise LabError(f"HAProxy refused `set map`: {answer.strip()}")
    tmp = Path(state.map).with_suffix(".tmp")
    tmp.write_text(f"{MAP_KEY} {BACKENDS[colour]}\n")
    tmp.replace(state.map)


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
    say: Say = print,
) -> LabState:
    """Start the whole stack in the background and record it; refuse if this dir's lab is up."""
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
    fleet_names = [f"{c}-{i}" for c in BACKENDS for i in range(1, INSTANCES + 1)]
    ports = free_ports(["frontend", "haproxy_metrics", "prometheus", *fleet_names])
    sock = root / "admin.sock"
    runtime_dir = None
    if len(str(sock)) > 100:  # sun_path holds 108 bytes
        runtime_dir = tempfile.mkdtemp(prefix="bglab-")
        sock = Path(runtime_dir) / "admin.sock"
    state = LabState(
        dir=str(root),
        started=time.time(),
        ports=ports,
        socket=str(sock),
        map=str(root / "backend.map"),
        fleet={
            c: [
                {
                    "name": f"{c}-{i}",
                    "port": ports[f"{c}-{i}"],
                    "url": f"http://127.0.0.1:{ports[f'{c}-{i}']}",
                }
                for i in range(1, INSTANCES + 1)
            ]
            for c in BACKENDS
        },
        runtime_dir=runtime_dir,
        duration=duration,
        rate=rate,
    )
    Path(state.map).write_text(f"{MAP_KEY} {BACKENDS['blue']}\n")
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
        for colour, instances in state.fleet.items():
            for inst in instances:
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
            lambda: http(state.frontend_url, timeout=0.5)[0] == 200,
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
        load_cmd = [
            sys.executable,
            "-m",
            "console.lab.load",
            "--url",
            state.frontend_url,
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


def fault(
    lab_dir: str | os.PathLike[str] | None,
    colour: str | None,
    *,
    error_rate: float | None = None,
    latency_ms: float | None = None,
    reset: bool = False,
    say: Say = print,
) -> list[tuple[str, str]]:
    """POST a fault (or a reset) to every instance of ``colour`` (all colours for a reset)."""
    state = require(lab_dir)
    if reset:
        path = "/-/reset"
    else:
        if colour is None:
            raise LabError("say which colour: bluegreen lab fault green --error-rate 0.5")
        if error_rate is None and latency_ms is None:
            raise LabError("give --error-rate R (0..1) and/or --latency-ms MS, or --reset")
        if error_rate is not None and not 0 <= error_rate <= 1:
            raise LabError(f"--error-rate is a fraction from 0 to 1, not {error_rate:g}")
        if latency_ms is not None and latency_ms < 0:
            raise LabError(f"--latency-ms must be 0 or more, not {latency_ms:g}")
        params = {}
        if error_rate is not None:
            params["error_rate"] = f"{error_rate:g}"
        if latency_ms is not None:
            params["latency_ms"] = f"{latency_ms:g}"
        path = "/-/fault?" + urllib.parse.urlencode(params)
    results = []
    for inst in state.instances(colour):
        status, body = http(inst["url"] + path, method="POST")
        if status != 200:
            raise LabError(
                f"{inst['name']} at {inst['url']} did not take the fault: {status} {body}"
            )
        results.append((inst["name"], body.strip()))
        say(f"{inst['name']}: {body.strip()}")
    return results


def status(lab_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What runs, where, and which colour HAProxy sends traffic to."""
    state = require(lab_dir)
    procs = {p.name: {"pid": p.pid, "running": is_ours(p), "log": p.log} for p in state.processes}
    try:
        backend = live_backend(state)
        live = next((c for c, b in BACKENDS.items() if b == backend), None)
        live_error = None
    except OSError as exc:
        live, live_error = None, f"admin socket {state.socket}: {exc}"
    fleet = {
        inst["name"]: {
            "url": inst["url"],
            "healthy": http(inst["url"] + "/healthz", timeout=1)[0] == 200,
        }
        for inst in state.instances()
    }
    return {
        "dir": state.dir,
        "up": all(p["running"] for n, p in procs.items() if n != "load"),
        "live": live,
        "live_error": live_error,
        "processes": procs,
        "fleet": fleet,
        "urls": {
            "frontend": state.frontend_url,
            "prometheus": state.prometheus_url,
            "haproxy_metrics": state.haproxy_metrics_url,
            "haproxy_stats": state.haproxy_stats_url,
        },
        "socket": state.socket,
        "map": state.map,
        "console_config": state.console_config,
        "started": state.started,
        "load_ends": state.started + state.duration,
    }


def require(lab_dir: str | os.PathLike[str] | None) -> LabState:
    root = resolve_dir(lab_dir)
    state = LabState.load(root)
    if state is None:
        raise LabError(f"no lab in {root}: start one with `bluegreen lab up --dir {root}`")
    return state


def _stop_all(state: LabState, say: Say) -> None:
    # The load first (no errors logged while its target goes), then everything else in reverse.
    for proc in reversed(state.processes):
        outcome = stop(proc)
        say(f"  {proc.name} (pid {proc.pid}): {outcome}")


def _remove_state(root: Path, state: LabState) -> None:
    for name in (
        "console.toml",
        "haproxy.cfg",
        "prometheus.yml",
        "backend.map",
        "backend.tmp",
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
