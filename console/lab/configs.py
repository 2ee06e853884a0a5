"""The files ``up`` writes from the lab's state: haproxy.cfg, prometheus.yml and console.toml.

The one-service lab's files are as they always were. With two services (``up --services 2``) the
one HAProxy routes each service by its path (``/shop``, ``/cart``) through the service's own map, to
its own two backends; Prometheus labels each fleet with ``service``; console.toml holds one
``[[service]]`` per service, whose ``matchers`` select it (so the board reads both services'
metrics in one query per metric).
"""

from __future__ import annotations

import json
from typing import Any

from console.lab.state import (
    MAP_KEY,
    QUERY_WINDOW,
    SCRAPE_INTERVAL,
    SERVICE,
    SERVICE_LABEL,
    LabService,
    LabState,
)

NO_SERVICE_BACKEND = "bg_no_service"  # two services: a path that is neither gets a 404 naming them

# --------------------------------------------------------------------------------------------------
# Config files


def _backend(name: str, instances: list[dict[str, Any]]) -> str:
    servers = "\n".join(
        f"    server {inst['name']} 127.0.0.1:{inst['port']} check inter 1s fall 2 rise 1"
        for inst in instances
    )
    return f"""backend {name}
    option httpchk GET /healthz
    http-check expect status 200
{servers}
"""


def _routing(state: LabState) -> str:
    """The frontend's routing rules and the backends they lead to."""
    services = state.layout()
    if not state.multi:
        svc = services[0]
        blue = svc.backends["blue"]
        rules = f"""    # The live colour is the value of the map entry "{MAP_KEY}": `set map` switches it at run time.
    use_backend %[path,map_beg({svc.map},{blue})]
    default_backend {blue}
"""
        extra = ""
    else:
        paths = " and ".join(f"{s.map_key}/" for s in services)
        rules = "    # Each service's live colour is the value of its map entry (key: its path), switched\n"
        rules += "    # at run time with `set map`.\n"
        rules += "".join(
            f"    use_backend %[path,map_beg({s.map},{s.backends['blue']})] "
            f"if {{ path {s.map_key} }} or {{ path_beg {s.map_key}/ }}\n"
            for s in services
        )
        rules += f"    default_backend {NO_SERVICE_BACKEND}\n"
        extra = f"""
backend {NO_SERVICE_BACKEND}
    http-request return status 404 content-type text/plain string "no service at this path: the lab's services are at {paths}"
"""
    backends = "\n".join(
        _backend(s.backends[colour], instances)
        for s in services
        for colour, instances in s.fleet.items()
    )
    return f"{rules}\n{backends}{extra}"


def haproxy_config(state: LabState) -> str:
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
{_routing(state)}
frontend fe_metrics
    bind 127.0.0.1:{state.ports["haproxy_metrics"]}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 5s
"""


def prometheus_config(state: LabState) -> str:
    """prometheus.yml as JSON (YAML's subset). No target label named like a metric's own label."""
    if state.multi:
        fleet_configs = [
            {
                "targets": [f"127.0.0.1:{inst['port']}" for inst in s.instances()],
                "labels": {"lab": SERVICE, SERVICE_LABEL: s.name},
            }
            for s in state.layout()
        ]
    else:
        fleet_targets = [f"127.0.0.1:{inst['port']}" for inst in state.instances()]
        fleet_configs = [{"targets": fleet_targets, "labels": {"lab": SERVICE}}]
    config = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {"job_name": "fleet", "static_configs": fleet_configs},
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
    if state.multi:
        names = [s.name for s in state.layout()]
        opening = f"""# Written by `bluegreen lab up --services {len(names)}` for the lab in {state.dir}.
# Open the board on it:   bluegreen watch --config {state.console_config}
# One service's console:  bluegreen watch --config {state.console_config} --service {names[-1]}
# Stop the lab:           bluegreen lab down --dir {state.dir}
"""
    else:
        opening = f"""# Written by `bluegreen lab up` for the lab in {state.dir}.
# Open the console on it:  bluegreen watch --config {state.console_config}
# Stop the lab:            bluegreen lab down --dir {state.dir}
"""
    services = "".join(_service_table(state, s) for s in state.layout())
    return f"""{opening}
# Notifications go to the lab's own receiver on 127.0.0.1; watch them arrive:
#   tail -f {state.notifications}
[notify]
urls_file = {_toml_str(state.notify_urls)}
{services}"""


def _service_table(state: LabState, svc: LabService) -> str:
    blue, green = svc.backends["blue"], svc.backends["green"]
    if state.multi:
        # No sessions_backends: in-flight requests come from the fleet, and the services differ in
        # one matcher only, so the board reads them together (one query per metric per poll).
        selection = f"""# Prometheus labels this service's fleet {SERVICE_LABEL}="{svc.name}" (prometheus.yml).
matchers = {{ {SERVICE_LABEL} = {_toml_str(svc.name)} }}
"""
    else:
        selection = f"""sessions_backends.blue = {_toml_str(blue)}
sessions_backends.green = {_toml_str(green)}
"""
    return f"""
[[service]]
name = {_toml_str(svc.name)}
poll_interval = 1.0
bake_seconds = 60
# auto_rollback = "armed"   # roll back by itself on a critical alarm in the bake window (or press a)

[service.router]
kind = "haproxy"
socket = {_toml_str(state.socket)}
map = {_toml_str(svc.map)}
map_key = {_toml_str(svc.map_key)}
backends.blue = {_toml_str(blue)}
backends.green = {_toml_str(green)}

[service.metrics]
kind = "prometheus"
url = {_toml_str(state.prometheus_url)}
window = {_toml_str(QUERY_WINDOW)}
{selection}
# The pre-switch gate: `s` (and `bluegreen gate`) checks the idle colour through its first
# instance's own address (the lab's preview URL) before it takes traffic.
[service.gate]
preview.blue = {_toml_str(_preview(svc, "blue"))}
preview.green = {_toml_str(_preview(svc, "green"))}
smoke = [{{ path = "/healthz", status = 200 }}, {{ path = "/", status = 200, name = "serves a page" }}]
warmup = {{ requests = 100, concurrency = 4 }}
"""


def _preview(svc: LabService, colour: str) -> str:
    instances = svc.instances(colour)
    return f"http://127.0.0.1:{instances[0]['port']}" if instances else "http://127.0.0.1:9"
