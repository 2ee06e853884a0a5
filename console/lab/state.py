"""The lab's fixed layout (names, sizes, intervals) and its record, ``<dir>/state.json``: what ``up``
started, on which ports, with which pids."""

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

    @property
    def notify_urls(self) -> str:
        """The apprise URL file the lab's ``[notify]`` reads (its receiver's address)."""
        return str(Path(self.dir) / "notify-urls")

    @property
    def notifications(self) -> str:
        """Where the lab's notification receiver appends what it gets, a JSON line each."""
        return str(Path(self.dir) / "notifications.jsonl")

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
