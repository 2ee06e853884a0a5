"""What ``up`` will start, before it starts anything: the services, their fleets and the free ports,
as a :class:`LabState` (nothing running yet).

One service (the default) is the lab as it always was: ``lab``, instances ``blue-1`` ... on
``bg_blue`` / ``bg_green``, map ``<dir>/backend.map`` with key ``/``. With ``--services 2``: ``shop``
and ``cart``, instances ``shop-blue-1`` ... on ``shop_blue`` / ``shop_green`` ..., each with its own
map ``<dir>/<name>.map`` whose key ``/<name>`` is also the path HAProxy routes to it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from console.lab.procs import free_ports
from console.lab.state import (
    BACKENDS,
    INSTANCES,
    MAX_SERVICES,
    SERVICE_NAMES,
    LabError,
    LabService,
    LabState,
)


def check_services(services: int) -> None:
    if not 1 <= services <= MAX_SERVICES:
        names = " and ".join(SERVICE_NAMES[:MAX_SERVICES])
        raise LabError(
            f"--services must be from 1 to {MAX_SERVICES}, not {services}: leave it out for the "
            f"one-service lab, or give --services {MAX_SERVICES} for {names} behind one HAProxy"
        )


def _fleet(prefix: str, ports: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    return {
        c: [
            {
                "name": f"{prefix}{c}-{i}",
                "port": ports[f"{prefix}{c}-{i}"],
                "url": f"http://127.0.0.1:{ports[f'{prefix}{c}-{i}']}",
            }
            for i in range(1, INSTANCES + 1)
        ]
        for c in BACKENDS
    }


def plan(root: Path, services: int, *, duration: float, rate: float) -> LabState:
    """The state of a lab of ``services`` services in ``root``, on free ports (nothing started)."""
    check_services(services)
    prefixes = [""] if services == 1 else [f"{n}-" for n in SERVICE_NAMES[:services]]
    fleet_names = [
        f"{p}{c}-{i}" for p in prefixes for c in BACKENDS for i in range(1, INSTANCES + 1)
    ]
    ports = free_ports(["frontend", "haproxy_metrics", "prometheus", "notify", *fleet_names])
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
        map="",
        fleet={},
        runtime_dir=runtime_dir,
        duration=duration,
        rate=rate,
    )
    if services == 1:
        state.map, state.fleet = str(root / "backend.map"), _fleet("", ports)
        return state
    state.services = [
        asdict(
            LabService(
                name=name,
                map=str(root / f"{name}.map"),
                map_key=f"/{name}",
                backends={c: f"{name}_{c}" for c in BACKENDS},
                fleet=_fleet(f"{name}-", ports),
            )
        )
        for name in SERVICE_NAMES[:services]
    ]
    return state
