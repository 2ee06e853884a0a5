"""The files ``up`` writes from the lab's state: haproxy.cfg, prometheus.yml and console.toml."""

from __future__ import annotations

import json

from console.lab.state import BACKENDS, MAP_KEY, QUERY_WINDOW, SCRAPE_INTERVAL, SERVICE, LabState

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

# Notifications go to the lab's own receiver on 127.0.0.1; watch them arrive:
#   tail -f {state.notifications}
[notify]
urls_file = {_toml_str(state.notify_urls)}

[[service]]
name = {_toml_str(SERVICE)}
poll_interval = 1.0
bake_seconds = 60
# auto_rollback = "armed"   # roll back by itself on a critical alarm in the bake window (or press a)

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

# The pre-switch gate: `s` (and `bluegreen gate`) checks the idle colour through its first
# instance's own address (the lab's preview URL) before it takes traffic.
[service.gate]
preview.blue = {_toml_str(_preview(state, "blue"))}
preview.green = {_toml_str(_preview(state, "green"))}
smoke = [{{ path = "/healthz", status = 200 }}, {{ path = "/", status = 200, name = "serves a page" }}]
warmup = {{ requests = 100, concurrency = 4 }}
"""


def _preview(state: LabState, colour: str) -> str:
    instances = state.instances(colour)
    return f"http://127.0.0.1:{instances[0]['port']}" if instances else "http://127.0.0.1:9"
