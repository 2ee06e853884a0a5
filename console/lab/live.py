"""The verbs on a running lab: ``fault`` (and ``--reset``) on a service's fleet, and ``status``."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from console.lab.net import http, live_backend
from console.lab.procs import is_ours
from console.lab.state import SERVICE, LabError, LabService, LabState, Say, resolve_dir


def fault(
    lab_dir: str | os.PathLike[str] | None,
    colour: str | None,
    *,
    error_rate: float | None = None,
    latency_ms: float | None = None,
    reset: bool = False,
    service: str | None = None,
    say: Say = print,
) -> list[tuple[str, str]]:
    """POST a fault (or a reset) to every instance of ``colour`` (all colours for a reset) of
    ``service`` (which a fault must name when the lab runs several; a reset without it resets
    every service)."""
    state = require(lab_dir)
    if service is not None or not reset:
        state.service(service)  # an unknown name, or none among several: LabError naming them
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
    for inst in state.instances(colour, service):
        status, body = http(inst["url"] + path, method="POST")
        if status != 200:
            raise LabError(
                f"{inst['name']} at {inst['url']} did not take the fault: {status} {body}"
            )
        results.append((inst["name"], body.strip()))
        say(f"{inst['name']}: {body.strip()}")
    return results


def status(
    lab_dir: str | os.PathLike[str] | None = None, service: str | None = None
) -> dict[str, Any]:
    """What runs, where, and which colour HAProxy sends each service's traffic to (``service``:
    only that one's; every service's by default)."""
    state = require(lab_dir)
    services = state.layout() if service is None else [state.service(service)]
    procs = {p.name: {"pid": p.pid, "running": is_ours(p), "log": p.log} for p in state.processes}
    lives = {svc.name: _live(state, svc) for svc in services}
    fleet = {
        inst["name"]: {
            "url": inst["url"],
            "healthy": http(inst["url"] + "/healthz", timeout=1)[0] == 200,
        }
        for svc in services
        for inst in svc.instances()
    }
    info: dict[str, Any] = {
        "dir": state.dir,
        "up": all(p["running"] for n, p in procs.items() if n != "load"),
    }
    if not state.multi:  # the one-service lab's keys, as they always were
        info["live"], info["live_error"] = lives[SERVICE]
    info["services"] = {
        svc.name: {
            "live": lives[svc.name][0],
            "live_error": lives[svc.name][1],
            "url": state.url_of(svc),
            "map": svc.map,
            "map_key": svc.map_key,
            "backends": svc.backends,
        }
        for svc in services
    }
    info |= {
        "processes": procs,
        "fleet": fleet,
        "urls": {
            "frontend": state.frontend_url,
            "prometheus": state.prometheus_url,
            "haproxy_metrics": state.haproxy_metrics_url,
            "haproxy_stats": state.haproxy_stats_url,
        },
        "socket": state.socket,
    }
    if not state.multi:
        info["map"] = state.map
    return info | {
        "console_config": state.console_config,
        "started": state.started,
        "load_ends": state.started + state.duration,
    }


def _live(state: LabState, svc: LabService) -> tuple[str | None, str | None]:
    """(the colour ``svc``'s map names in HAProxy, None) or (None, why it cannot be read)."""
    try:
        return svc.colour_of(live_backend(state, svc.name)), None
    except OSError as exc:
        return None, f"admin socket {state.socket}: {exc}"


def require(lab_dir: str | os.PathLike[str] | None) -> LabState:
    root = resolve_dir(lab_dir)
    state = LabState.load(root)
    if state is None:
        raise LabError(f"no lab in {root}: start one with `bluegreen lab up --dir {root}`")
    return state
