"""A real nginx on 127.0.0.1 in front of real FleetApp servers, for the tests.

``NginxLab`` writes a config, a map file and one upstream include file per colour into a
directory, starts ``nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`` (a master and one worker, in
its own process group) and stops everything it started. Every wait is bounded.

The layout (also the example in docs/nginx.md)::

    map $host $backend { include DIR/backend.map; }     backend.map: `default blue;`
    upstream blue  { include DIR/upstreams/blue.conf; }  `server 127.0.0.1:PORT;` per server
    upstream green { include DIR/upstreams/green.conf; }
    server { listen 127.0.0.1:PORT; location / { proxy_pass http://$backend; } }
    server { listen 127.0.0.1:STATUS_PORT; location = /stub_status { stub_status; } }
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.lab.fleet import FleetApp
from tests.integration.haproxy_fixture import free_port, get

SKIP_REASON = (
    "nginx is not installed: `make test` installs Debian's nginx (make system-deps), or "
    "apt-get install -y nginx"
)

CONFIG = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;

events {{ worker_connections 256; }}

http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    keepalive_timeout 5s;

    map $host $backend {{
        include {dir}/backend.map;
    }}

    upstream blue {{
        include {dir}/upstreams/blue.conf;
    }}

    upstream green {{
        include {dir}/upstreams/green.conf;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://$backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout;
        }}
    }}

    server {{
        listen 127.0.0.1:{status_port};
        location = /stub_status {{ stub_status; }}
    }}
}}
"""


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


class NginxLab:
    """One nginx master and its files. ``servers``: colour -> [(name, port)]."""

    def __init__(self, directory: Path, servers: dict[str, list[tuple[str, int]]]) -> None:
        self.nginx = nginx_binary() or "nginx"
        self.dir = Path(directory)
        self.servers = servers
        self.port = free_port()
        self.status_port = free_port()
        self.conf = self.dir / "nginx.conf"
        self.map = self.dir / "backend.map"
        self.pid_file = self.dir / "nginx.pid"
        self.error_log = self.dir / "error.log"
        self.files = {c: self.dir / "upstreams" / f"{c}.conf" for c in ("blue", "green")}
        self.proc: subprocess.Popen[bytes] | None = None
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        (self.dir / "upstreams").mkdir(exist_ok=True)
        self.conf.write_text(
            CONFIG.format(dir=self.dir, port=self.port, status_port=self.status_port)
        )
        self.map.write_text("# the live colour, kept by bluegreen-console\ndefault blue;\n")
        for colour, srv in servers.items():
            self.files[colour].write_text(
                "".join(f"server 127.0.0.1:{port};  # {name}\n" for name, port in srv)
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stub_url(self) -> str:
        return f"http://127.0.0.1:{self.status_port}/stub_status"

    def router_options(self, **overrides: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "conf": str(self.conf),
            "prefix": str(self.dir),
            "nginx": self.nginx,
            "pid_file": str(self.pid_file),
            "map": str(self.map),
            "upstreams": {"blue": "blue", "green": "green"},
            "upstream_files": {c: str(p) for c, p in self.files.items()},
            "probe_url": self.url + "/",
            "probe_header": "X-Colour",
            "stub_status_url": self.stub_url,
            "error_log": str(self.error_log),
            "timeout": 2.0,
        }
        options.update(overrides)
        return options

    def args(self, *extra: str) -> list[str]:
        return [self.nginx, "-p", str(self.dir), "-c", str(self.conf), *extra]

    # -- process ------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> NginxLab:
        check = subprocess.run(self.args("-t", "-q"), capture_output=True, timeout=10)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {check.stderr.decode()[-2000:]}")
        with open(self.dir / "stderr.log", "ab") as log:
            self.proc = subprocess.Popen(
                self.args("-g", "daemon off;"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends master and workers
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}: {self.log_tail()}")
            if self.workers() and self.pid_file.exists():
                with contextlib.suppress(OSError):
                    if get(self.url, 1)[0][0] == 200:
                        return self
            time.sleep(0.02)
        raise RuntimeError(f"nginx did not answer within {timeout} s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.error_log.read_text()[-2000:]
        except OSError:
            return "(no log)"

    def workers(self, old: bool | None = None) -> list[int]:
        """PIDs of the master's workers: all, or only the old ones (``old=True``, shutting down)
        or only the current ones (``old=False``)."""
        if self.proc is None:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) != self.proc.pid or fields[0] == "Z":
                    continue
                title = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
                if "worker process" not in title:
                    continue
                shutting = "shutting down" in title
                if old is None or old == shutting:
                    pids.append(int(entry))
        return pids

    def reload(self, timeout: float = 10.0) -> None:
        """`nginx -s reload`, as an operator would; returns once the new workers are up."""
        before = set(self.workers(old=False))
        subprocess.run(self.args("-s", "reload"), capture_output=True, timeout=10, check=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = set(self.workers(old=False))
            if now and not (now & before):
                return
            time.sleep(0.01)
        raise RuntimeError(f"no new workers within {timeout} s of the reload: {self.log_tail()}")

    def map_value(self) -> str | None:
        for line in self.map.read_text().splitlines():
            words = line.split("#", 1)[0].replace(";", " ").split()
            if len(words) >= 2 and words[0] == "default":
                return words[1]
        return None

    def down(self, colour: str) -> list[bool]:
        """For each server line of the colour's include file: has it `down`?"""
        return [
            " down" in line.split(";", 1)[0]
            for line in self.files[colour].read_text().splitlines()
            if line.strip().startswith("server ")
        ]

    def set_down(self, colour: str, down: bool) -> None:
        """Write the include file by hand (no reload)."""
        lines = []
        for name, port in self.servers[colour]:
            lines.append(f"server 127.0.0.1:{port}{' down' if down else ''};  # {name}\n")
        self.files[colour].write_text("".join(lines))

    def kill(self) -> None:
        """SIGKILL the whole process group: the pid file stays behind, naming a dead pid."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            self.proc = None

    def stop(self) -> None:
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


@dataclass
class NginxWithApps:
    lab: NginxLab
    apps: dict[str, FleetApp]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lab, name)

    def colour_apps(self, colour: str) -> list[FleetApp]:
        return [a for a in self.apps.values() if a.colour == colour]


@contextlib.contextmanager
def running_nginx(servers_per_colour: int = 2) -> Iterator[NginxWithApps]:
    """FleetApps (blue v1, green v2) and nginx in a fresh /tmp directory; all stopped and removed
    afterwards. Skips, saying why, where nginx is not installed."""
    if nginx_binary() is None:
        pytest.skip(SKIP_REASON)
    directory = Path(tempfile.mkdtemp(prefix="bg-nginx-", dir="/tmp"))
    os.chmod(directory, 0o755)
    apps: dict[str, FleetApp] = {}
    lab = None
    try:
        for colour, version in (("blue", "v1"), ("green", "v2")):
            for i in range(1, servers_per_colour + 1):
                name = f"{colour}-{i}"
                apps[name] = FleetApp(colour, version, name=name, latency_ms=2.0).start()
        servers = {
            c: [(a.name, a.port) for a in apps.values() if a.colour == c] for c in ("blue", "green")
        }
        lab = NginxLab(directory, servers).start()
        yield NginxWithApps(lab, apps)
    finally:
        if lab is not None:
            lab.stop()
        stoppers = [threading.Thread(target=app.stop) for app in apps.values()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def nginx_lab() -> Iterator[NginxWithApps]:
    """A running nginx with blue-1, blue-2 (v1) and green-1, green-2 (v2); blue is live."""
    with running_nginx() as lab:
        yield lab
