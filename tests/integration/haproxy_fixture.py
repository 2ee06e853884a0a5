"""A real HAProxy on 127.0.0.1 in front of real FleetApp servers, for tests and the benchmark.

``HAProxyLab`` writes a config and a map file into a directory, starts ``haproxy -W -db -f cfg``
(master-worker, so SIGUSR2 reloads work) in its own process group, and stops everything it
started. Every wait is bounded. The ``haproxy_lab`` fixture builds one per test with two FleetApp
servers per colour (blue v1, green v2).

``running_fleet`` / the ``haproxy_fleet`` fixture start two or three such HAProxy processes in front
of the same servers (a fleet: lb1, lb2, lb3, each with its own socket and map file).

The layout (also the example in docs/haproxy.md)::

    frontend fe           use_backend %[path,map_beg(<dir>/backend.map,blue-backend)]
    backend blue-backend  blue-1, blue-2    (option httpchk GET /healthz, check inter 200ms)
    backend green-backend green-1, green-2
    backend split-backend servers tracking the four above (weighted canary split)
    backend dead-backend  one server on a closed port (always DOWN)

Sockets: ``admin.sock`` (level admin), ``user.sock`` (level user), and a TCP one (level admin).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.lab.fleet import FleetApp

SKIP_REASON = (
    "haproxy is not installed: run the README's integration-test command, which installs "
    "Debian's haproxy (apt-get install -y haproxy), or install it yourself"
)


def haproxy_binary() -> str | None:
    found = shutil.which("haproxy")
    if found:
        return found
    return "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = """\
global
    stats socket {dir}/admin.sock mode 600 level admin
    stats socket {dir}/user.sock mode 600 level user
    stats socket 127.0.0.1:{stats_port} level admin
    hard-stop-after 5s

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout http-keep-alive 5s
    option idle-close-on-response

frontend fe
    bind 127.0.0.1:{port}
    use_backend %[path,map_beg({map},blue-backend)]
    default_backend blue-backend

{colour_backends}
backend split-backend
{split_servers}

backend dead-backend
    option httpchk GET /healthz
    server dead-1 127.0.0.1:{dead_port} check inter 200ms
"""

COLOUR_BACKEND = """\
backend {colour}-backend
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


class HAProxyLab:
    """One HAProxy process and its files. ``servers``: colour -> [(server name, port)]."""

    def __init__(
        self,
        directory: Path,
        servers: Mapping[str, Sequence[tuple[str, int]]],
        *,
        haproxy: str | None = None,
    ) -> None:
        self.haproxy = haproxy or haproxy_binary() or "haproxy"
        self.dir = Path(directory)
        self.servers = {c: list(s) for c, s in servers.items()}
        self.port = free_port()
        self.stats_port = free_port()
        self.cfg = self.dir / "haproxy.cfg"
        self.map = self.dir / "backend.map"
        self.socket = self.dir / "admin.sock"
        self.user_socket = self.dir / "user.sock"
        self.tcp_socket = f"127.0.0.1:{self.stats_port}"
        self.log = self.dir / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._write_files()

    # -- files --------------------------------------------------------------------------------

    def _write_files(self) -> None:
        colour_backends = "\n".join(
            COLOUR_BACKEND.format(
                colour=colour,
                servers="\n".join(
                    f"    server {name} 127.0.0.1:{port} check inter 200ms" for name, port in srv
                ),
            )
            for colour, srv in self.servers.items()
        )
        split = "\n".join(
            f"    server {name} 127.0.0.1:{port} track {colour}-backend/{name} "
            f"weight {100 if colour == 'blue' else 0}"
            for colour, srv in self.servers.items()
            for name, port in srv
        )
        self.cfg.write_text(
            CONFIG.format(
                dir=self.dir,
                stats_port=self.stats_port,
                port=self.port,
                map=self.map,
                colour_backends=colour_backends,
                split_servers=split,
                dead_port=self._dead_port(),
            )
        )
        self.map.write_text("# the live colour, maintained by bluegreen-console\n/ blue-backend\n")

    def _dead_port(self) -> int:
        """A port that stays closed: bound (so nothing else can take it) but never listening, so
        HAProxy's checks of dead-1 are refused for as long as the lab lives."""
        self._dead_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._dead_socket.bind(("127.0.0.1", 0))
        return int(self._dead_socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def router_options(self, **overrides: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "socket": str(self.socket),
            "map": str(self.map),
            "backends": {"blue": "blue-backend", "green": "green-backend"},
            "split_backend": "split-backend",
            "timeout": 1.0,
        }
        options.update(overrides)
        return options

    # -- process ------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> HAProxyLab:
        check = subprocess.run(
            [self.haproxy, "-c", "-q", "-f", str(self.cfg)], capture_output=True, timeout=10
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy -c failed: {check.stderr.decode()[-2000:]}")
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()  # a stale one from a killed run
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.haproxy, "-W", "-db", "-f", str(self.cfg)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends master and workers
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError):
                if "Pid:" in self.command("show info", timeout=0.5):
                    return self
            time.sleep(0.02)
        raise RuntimeError(
            f"haproxy did not open {self.socket} within {timeout} s: {self.log_tail()}"
        )

    def log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return "(no log)"

    def command(self, cmd: str, timeout: float = 2.0) -> str:
        """One runtime-API command on the admin socket (test-side helper, independent of the
        router under test)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.socket))
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def statuses(self) -> dict[tuple[str, str], str]:
        out = {}
        for line in self.command("show stat").splitlines()[1:]:
            parts = line.split(",")
            if len(parts) > 17 and parts[1] not in ("FRONTEND", "BACKEND"):
                out[(parts[0], parts[1])] = parts[17]
        return out

    def wait_until_up(self, timeout: float = 10.0) -> None:
        """Until every colour server is UP and dead-1 is DOWN (health checks have run)."""
        deadline = time.monotonic() + timeout
        last: dict[tuple[str, str], str] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                last = self.statuses()
                colour_up = all(
                    last.get((f"{c}-backend", name), "").startswith("UP")
                    for c, srv in self.servers.items()
                    for name, _ in srv
                )
                if colour_up and last.get(("dead-backend", "dead-1"), "").startswith("DOWN"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"servers not UP within {timeout} s: {last}")

    def worker_pid(self) -> int | None:
        with contextlib.suppress(OSError):
            for line in self.command("show info", timeout=0.5).splitlines():
                if line.startswith("Pid:"):
                    return int(line.split(":", 1)[1])
        return None

    def reload(self, timeout: float = 10.0) -> None:
        """SIGUSR2 to the master; returns once a new worker answers on the admin socket."""
        assert self.proc is not None
        old = self.worker_pid()
        os.kill(self.proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.worker_pid()
            if pid is not None and pid != old:
                return
            time.sleep(0.01)
        raise RuntimeError(f"no new worker within {timeout} s after SIGUSR2: {self.log_tail()}")

    def workers(self) -> list[int]:
        """PIDs of the master's worker processes (more than one while an old worker finishes its
        connections after a reload)."""
        if self.proc is None:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                    pids.append(int(entry))
        return pids

    def wait_old_workers_gone(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.workers()) <= 1:
                return True
            time.sleep(0.01)
        return False

    def kill(self) -> None:
        """SIGKILL the whole process group: the socket file stays behind, stale."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            self.proc = None

    def stop(self) -> None:
        dead = getattr(self, "_dead_socket", None)
        if dead is not None:
            dead.close()
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        self.proc = None


# --------------------------------------------------------------------------------------------------
# A bounded load: a few keep-alive clients, each request recorded.


@dataclass(frozen=True)
class Result:
    sent: float  # time.monotonic() just before the request was written
    done: float  # when the response (or the error) came back
    colour: str | None  # X-Colour of the response, None on failure
    server: str | None
    error: str | None  # None when the answer was a 200


@dataclass
class Load:
    """``clients`` threads sending ``GET /`` over kept-alive connections until ``stop()``, until
    ``max_requests`` in all, or for ``max_seconds``, whichever comes first. ``rate`` > 0 paces
    them to about that many requests per second in all; 0 sends back to back."""

    url: str
    clients: int = 4
    max_requests: int = 2000
    max_seconds: float = 5.0
    path: str = "/"
    rate: float = 0.0
    results: list[Result] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for i in range(self.clients):
            t = threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _run(self) -> None:
        host_port = self.url.split("://", 1)[1]
        host, port = host_port.rsplit(":", 1)
        conn: http.client.HTTPConnection | None = None
        interval = self.clients / self.rate if self.rate > 0 else 0.0
        next_send = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            if interval:
                next_send += interval
                pause = next_send - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
                else:
                    next_send = time.monotonic()  # behind: do not burst to catch up
            with self._lock:
                if len(self.results) >= self.max_requests:
                    return
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=5)
            sent = time.monotonic()
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                resp.read()
                colour, server = resp.getheader("X-Colour"), resp.getheader("X-Server")
                error = None if resp.status == 200 else f"HTTP {resp.status}"
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                colour = server = None
                error = f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = None
            with self._lock:
                self.results.append(Result(sent, time.monotonic(), colour, server, error))
        if conn is not None:
            conn.close()

    def stop(self) -> list[Result]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        with self._lock:
            return list(self.results)

    def snapshot(self) -> list[Result]:
        with self._lock:
            return list(self.results)

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def get(url: str, n: int = 1, timeout: float = 5.0) -> list[tuple[int, str | None, str | None]]:
    """``n`` sequential GETs on one kept-alive connection: [(status, X-Colour, X-Server)]."""
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    out = []
    try:
        for _ in range(n):
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            out.append((resp.status, resp.getheader("X-Colour"), resp.getheader("X-Server")))
            if resp.will_close:
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    finally:
        conn.close()
    return out


# --------------------------------------------------------------------------------------------------
# The pytest fixture.


def quiet(app: FleetApp) -> FleetApp:
    """FleetApp already keeps health-check resets quiet; kept as the fixture's one place to adjust apps."""
    return app


@dataclass
class LabWithApps:
    lab: HAProxyLab
    apps: dict[str, FleetApp]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lab, name)

    def colour_apps(self, colour: str) -> list[FleetApp]:
        return [a for a in self.apps.values() if a.colour == colour]


@contextlib.contextmanager
def running_lab(servers_per_colour: int = 2) -> Iterator[LabWithApps]:
    """Start FleetApps and HAProxy in a fresh /tmp directory (short socket paths, mode 0711 so a
    test can reach it as another user); stop and remove everything afterwards."""
    if haproxy_binary() is None:
        pytest.skip(SKIP_REASON)
    directory = Path(tempfile.mkdtemp(prefix="bg-haproxy-", dir="/tmp"))
    os.chmod(directory, 0o711)
    apps: dict[str, FleetApp] = {}
    lab = None
    try:
        for colour, version in (("blue", "v1"), ("green", "v2")):
            for i in range(1, servers_per_colour + 1):
                name = f"{colour}-{i}"
                apps[name] = quiet(FleetApp(colour, version, name=name, latency_ms=2.0)).start()
        servers = {
            c: [(a.name, a.port) for a in apps.values() if a.colour == c] for c in ("blue", "green")
        }
        lab = HAProxyLab(directory, servers).start()
        lab.wait_until_up()
        yield LabWithApps(lab, apps)
    finally:
        if lab is not None:
            lab.stop()
        # FleetApp.stop() waits up to serve_forever's 0.5 s poll: stop them side by side.
        stoppers = [threading.Thread(target=app.stop) for app in apps.values()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class FleetLab:
    """Several HAProxy processes (``labs``, named lb1, lb2, ...) in front of the same FleetApps,
    each with its own directory, admin socket, map file and port: a HAProxy fleet."""

    labs: list[HAProxyLab]
    apps: dict[str, FleetApp]

    @property
    def names(self) -> list[str]:
        return [f"lb{i + 1}" for i in range(len(self.labs))]

    def lab(self, name: str) -> HAProxyLab:
        return self.labs[self.names.index(name)]

    def router_options(self, **overrides: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "instances": [
                {"name": name, "socket": str(lab.socket), "map": str(lab.map)}
                for name, lab in zip(self.names, self.labs, strict=True)
            ],
            "backends": {"blue": "blue-backend", "green": "green-backend"},
            "split_backend": "split-backend",
            "timeout": 1.0,
        }
        options.update(overrides)
        return options

    def map_values(self) -> dict[str, str | None]:
        """Each instance's map value for "/" (None: it does not answer), read on its own socket."""
        out: dict[str, str | None] = {}
        for name, lab in zip(self.names, self.labs, strict=True):
            try:
                lines = lab.command(f"show map {lab.map}", timeout=1.0).splitlines()
            except OSError:
                out[name] = None
                continue
            out[name] = next(
                (ln.split()[2] for ln in lines if len(ln.split()) == 3 and ln.split()[1] == "/"),
                None,
            )
        return out

    def file_values(self) -> dict[str, str | None]:
        """Each instance's map file value for "/" (what a restart would route by)."""
        out: dict[str, str | None] = {}
        for name, lab in zip(self.names, self.labs, strict=True):
            words = [ln.split() for ln in lab.map.read_text().splitlines()]
            out[name] = next((w[1] for w in words if len(w) == 2 and w[0] == "/"), None)
        return out


@contextlib.contextmanager
def running_fleet(instances: int = 3, servers_per_colour: int = 2) -> Iterator[FleetLab]:
    """Start FleetApps and ``instances`` HAProxy processes in front of them (as running_lab)."""
    if haproxy_binary() is None:
        pytest.skip(SKIP_REASON)
    root = Path(tempfile.mkdtemp(prefix="bg-fleet-", dir="/tmp"))
    os.chmod(root, 0o711)
    apps: dict[str, FleetApp] = {}
    labs: list[HAProxyLab] = []
    try:
        for colour, version in (("blue", "v1"), ("green", "v2")):
            for i in range(1, servers_per_colour + 1):
                name = f"{colour}-{i}"
                apps[name] = quiet(FleetApp(colour, version, name=name, latency_ms=2.0)).start()
        servers = {
            c: [(a.name, a.port) for a in apps.values() if a.colour == c] for c in ("blue", "green")
        }
        for i in range(instances):
            directory = root / f"lb{i + 1}"
            directory.mkdir(mode=0o711)
            labs.append(HAProxyLab(directory, servers).start())
        for lab in labs:
            lab.wait_until_up()
        yield FleetLab(labs, apps)
    finally:
        for lab in labs:
            lab.stop()
        stoppers = [threading.Thread(target=app.stop) for app in apps.values()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def haproxy_fleet() -> Iterator[FleetLab]:
    """Three running HAProxy instances (lb1..lb3) in front of blue-1, blue-2, green-1, green-2;
    blue is live on each."""
    with running_fleet(3) as fleet:
        yield fleet


@pytest.fixture
def haproxy_lab() -> Iterator[LabWithApps]:
    """A running HAProxy with blue-1, blue-2 (v1) and green-1, green-2 (v2); blue is live."""
    with running_lab() as lab:
        yield lab
