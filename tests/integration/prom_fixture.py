"""A real Prometheus on 127.0.0.1 for the integration tests, and small helpers around it.

``PrometheusServer`` writes a config scraping the given targets every second, starts Debian's
``prometheus`` binary (never the system service) on a free port with its storage in a temporary
directory, waits (bounded) until it is ready, and stops exactly the process it started.

Fixtures (import them into a conftest or a test module):

* ``prometheus_binary``: the path of ``prometheus``; skips the test with a clear message when it is
  missing (CI installs it: ``apt-get install -y prometheus``).
* ``prometheus_factory``: call it with scrape jobs to get a started ``PrometheusServer``; every server
  it made is stopped at the end of the test. ``basic_auth={"user": "bcrypt hash"}`` starts it with a
  web config that requires basic auth on every endpoint (Prometheus's own ``--web.config.file``;
  Prometheus 2.42 has no bearer-token check of its own), ``client_auth=(user, password)`` is what
  the fixture's own requests (the readiness check, ``query``) send.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

STARTUP_TIMEOUT = 30.0  # seconds; Prometheus 2.42 is usually ready in under 2 s


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_prometheus() -> str | None:
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None
    )


@dataclass
class ScrapeJob:
    """One ``scrape_configs`` entry: static targets (``host:port``) sharing target labels.

    Do not name a target label like a label of the scraped metrics (``colour``, ``code``, ``le``,
    ``server``): Prometheus would rename the metric's own label to ``exported_<name>``.
    """

    name: str
    targets: Sequence[str]
    labels: Mapping[str, str] = field(default_factory=dict)
    metrics_path: str = "/metrics"


def prometheus_config(jobs: Sequence[ScrapeJob], scrape_interval: str = "1s") -> str:
    """A prometheus.yml as JSON (a subset of YAML), so no YAML writer is needed."""
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,  # must not exceed the interval
            "evaluation_interval": scrape_interval,
        },
        "scrape_configs": [
            {
                "job_name": job.name,
                "metrics_path": job.metrics_path,
                "static_configs": [{"targets": list(job.targets), "labels": dict(job.labels)}],
            }
            for job in jobs
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def prometheus_command(
    binary: str,
    config_file: Path,
    storage: Path,
    port: int,
    *,
    retention: str = "2h",
    web_config: Path | None = None,
) -> list[str]:
    return [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={storage}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        *([f"--web.config.file={web_config}"] if web_config else []),
    ]


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def http_get(
    url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """GET ``url``; returns (status, body); (0, b"") when nothing answered."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 - 127.0.0.1 only
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


class PrometheusServer:
    """One Prometheus process on 127.0.0.1. ``start()`` waits until ready; ``stop()`` ends it."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        jobs: Sequence[ScrapeJob],
        *,
        scrape_interval: str = "1s",
        port: int | None = None,
        basic_auth: Mapping[str, str] | None = None,
        client_auth: tuple[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.basic_auth = dict(basic_auth or {})  # user -> bcrypt hash: required on every endpoint
        self.headers = basic_auth_header(*client_auth) if client_auth else {}
        self.workdir = Path(workdir)
        self.jobs = list(jobs)
        self.scrape_interval = scrape_interval
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = STARTUP_TIMEOUT) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(prometheus_config(self.jobs, self.scrape_interval))
        storage = self.workdir / "data"
        storage.mkdir(exist_ok=True)
        web_config = None
        if self.basic_auth:
            web_config = self.workdir / "web.yml"  # JSON is YAML
            web_config.write_text(json.dumps({"basic_auth_users": self.basic_auth}) + "\n")
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.proc = subprocess.Popen(
                prometheus_command(self.binary, config, storage, self.port, web_config=web_config),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the test run does not reach it twice
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {self.proc.returncode} at start:\n{self.log_tail()}"
                )
            status, _ = http_get(f"{self.url}/-/ready", timeout=1.0, headers=self.headers)
            if status == 200:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus was not ready within {timeout:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- queries (plain urllib: the code under test must not be the thing that checks itself) -----

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = http_get(url, headers=self.headers)
        if status != 200:
            raise RuntimeError(f"query {promql!r} failed: HTTP {status} {body[:200]!r}")
        return json.loads(body)["data"]["result"]

    def wait_for(
        self,
        promql: str,
        ready: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 15.0,
        interval: float = 0.25,
    ) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``ready(result)``; bounded by ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if ready(result):
                return result
            time.sleep(interval)
        raise AssertionError(f"{promql!r} not ready within {timeout:g} s; last result: {result}")

    def wait_for_targets_up(self, count: int, timeout: float = 15.0) -> None:
        self.wait_for("sum(up)", lambda r: bool(r) and float(r[0]["value"][1]) >= count, timeout)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    binary = find_prometheus()
    if binary is None:
        pytest.skip(
            "prometheus is not installed: `sudo apt-get install -y prometheus` (Debian's package; "
            "the tests start their own process on 127.0.0.1, never the system service)"
        )
    return binary


@pytest.fixture
def prometheus_factory(
    prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., PrometheusServer]]:
    started: list[PrometheusServer] = []

    def make(
        jobs: Sequence[ScrapeJob],
        scrape_interval: str = "1s",
        *,
        basic_auth: Mapping[str, str] | None = None,
        client_auth: tuple[str, str] | None = None,
    ) -> PrometheusServer:
        server = PrometheusServer(
            prometheus_binary,
            tmp_path_factory.mktemp("prometheus"),
            jobs,
            scrape_interval=scrape_interval,
            basic_auth=basic_auth,
            client_auth=client_auth,
        )
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()
