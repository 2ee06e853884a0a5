"""The lab's fixed layout (names, sizes, intervals) and its record, ``<dir>/state.json``: what ``up``
started, on which ports, with which pids, and for which services (one, or two with
``--services 2``)."""

from __future__ import annotations

import json
import os
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
QUERY_WINDOW = "10s"  # the console's rate window for the lab (see docs/lab.md)
TOOLS = {"haproxy": "haproxy", "prometheus": "prometheus"}  # binary -> Debian package
# With --services N above 1: the services' names, in order (each routed by the path /<name>), and the
# Prometheus target label naming each one's fleet (their console.toml `matchers`)
SERVICE_NAMES = ("shop", "cart")
MAX_SERVICES = len(SERVICE_NAMES)
SERVICE_LABEL = "service"


class LabError(Exception):
    """Something a person must act on; the message says what and how."""


Say = Callable[[str], None]


# --------------------------------------------------------------------------------------------------
# State


@dataclass
class LabService:
    """One service of the lab: its map (and key), its two backends and its two fleets.

    The one-service lab's is ``lab``, key ``/`` in ``backend.map``, backends ``bg_blue`` and
    ``bg_green``; with ``--services 2``, ``shop`` (key ``/shop`` in ``shop.map``, backends
    ``shop_blue`` and ``shop_green``) and ``cart`` likewise. The key is also the URL path that
    HAProxy routes to the service."""

    name: str
    map: str
    map_key: str
    backends: dict[str, str]
    fleet: dict[str, list[dict[str, Any]]]

    def instances(self, colour: str | None = None) -> list[dict[str, Any]]:
        colours = [colour] if colour else list(self.fleet)
        return [inst for c in colours for inst in self.fleet.get(c, [])]

    def colour_of(self, backend: str | None) -> str | None:
        return next((c for c, b in self.backends.items() if b == backend), None)


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
    # Two or more services (``up --services N``): each one's LabService fields; ``map`` and
    # ``fleet`` above are then empty. Empty for the one-service lab (and not written to state.json).
    services: list[dict[str, Any]] = field(default_factory=list)

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['frontend']}/"

    def url_of(self, svc: LabService) -> str:
        """Where ``svc``'s traffic enters HAProxy: the frontend, under the service's path."""
        return f"{self.frontend_url}{svc.map_key.strip('/')}{'/' if svc.map_key != '/' else ''}"

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

    @property
    def notify_urls(self) -> str:
        """The apprise URL file the lab's ``[notify]`` reads (its receiver's address)."""
        return str(Path(self.dir) / "notify-urls")

    @property
    def notifications(self) -> str:
        """Where the lab's notification receiver appends what it gets, a JSON line each."""
        return str(Path(self.dir) / "notifications.jsonl")

    @property
    def multi(self) -> bool:
        return bool(self.services)

    def layout(self) -> list[LabService]:
        """The lab's services, in order (one for the one-service lab)."""
        if not self.services:
            return [LabService(SERVICE, self.map, MAP_KEY, dict(BACKENDS), self.fleet)]
        return [LabService(**s) for s in self.services]

    def service(self, name: str | None) -> LabService:
        """The service called ``name``; ``None`` is the only one. Raises LabError naming the
        choices (``--service NAME``) when ``name`` is unknown, or missing with several services."""
        services = self.layout()
        names = [s.name for s in services]
        if name is None and len(services) == 1:
            return services[0]
        for s in services:
            if s.name == name:
                return s
        choices = " or ".join(f"--service {n}" for n in names)
        if name is None:
            raise LabError(
                f"the lab runs {len(names)} services ({', '.join(names)}): say which with {choices}"
            )
        raise LabError(f"the lab has no service {name!r}: give {choices}")

    def instances(
        self, colour: str | None = None, service: str | None = None
    ) -> list[dict[str, Any]]:
        """The fleet instances of ``colour`` (all colours when None) of ``service`` (all when
        None)."""
        services = self.layout() if service is None else [self.service(service)]
        return [inst for s in services for inst in s.instances(colour)]

    def save(self) -> None:
        path = Path(self.dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        data = asdict(self)
        if not data["services"]:
            del data["services"]  # the one-service lab's record stays as it always was
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
