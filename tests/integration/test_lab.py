"""``bluegreen lab``: up in a temporary dir, the stack answers, a fault changes a fleet, down leaves
nothing behind. Real HAProxy, Prometheus and fleet processes, all on 127.0.0.1; about 15 s."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from backends.base import BackendContext, Colour
from backends.prometheus import PrometheusMetrics
from console.lab import stack
from console.lab.stack import LabState
from tests.support.lab import bluegreen, down_leaves_nothing, get, lab_dir_for

pytestmark = pytest.mark.integration


def prom_query(base: str, promql: str) -> list[dict[str, Any]]:
    status, body = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def alive(proc: stack.Proc) -> bool:
    return stack.is_ours(proc)


@pytest.fixture
def lab_dir(tmp_path: Path) -> Iterator[Path]:
    yield from lab_dir_for(tmp_path)


def test_lab_up_fault_down(lab_dir: Path) -> None:
    up = bluegreen(
        "lab", "up", "--dir", str(lab_dir), "--duration", "60", "--rate", "20", "--no-install"
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert "bluegreen watch --config" in up.stdout
    state = LabState.load(lab_dir)
    assert state is not None
    assert [p.name for p in state.processes] == [
        "fleet-blue-1",
        "fleet-blue-2",
        "fleet-green-1",
        "fleet-green-2",
        "haproxy",
        "prometheus",
        "notify-receiver",
        "load",
    ]
    assert all(alive(p) for p in state.processes)

    # The console config describes this stack.
    config = tomllib.loads((lab_dir / "console.toml").read_text())
    service = config["service"][0]
    assert service["router"]["kind"] == "haproxy"
    assert service["router"]["backends"] == {"blue": "bg_blue", "green": "bg_green"}
    assert Path(service["router"]["socket"]).is_socket()
    assert Path(service["router"]["map"]).read_text().split() == ["/", "bg_blue"]
    metrics = dict(service["metrics"])
    assert metrics.pop("kind") == "prometheus"
    assert metrics["url"] == state.prometheus_url

    # HAProxy's frontend serves blue v1.
    status, body = get(state.frontend_url)
    assert status == 200 and body.startswith("blue v1"), body

    # The gate reaches the idle colour through its preview URL: `bluegreen gate` passes on green.
    assert set(service["gate"]["preview"]) == {"blue", "green"}
    gate = bluegreen("gate", "--config", str(lab_dir / "console.toml"))
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "gate on green" in gate.stdout and "PASSED" in gate.stdout

    # Prometheus has both fleets' series and HAProxy's (first scrape ~5 s after start).
    deadline = time.monotonic() + 20
    colours: set[str] = set()
    while time.monotonic() < deadline:
        colours = {
            r["metric"].get("colour", "")
            for r in prom_query(state.prometheus_url, "count by (colour) (http_requests_in_flight)")
        }
        proxies = {
            r["metric"]["proxy"]
            for r in prom_query(state.prometheus_url, "haproxy_backend_current_sessions")
        }
        traffic = prom_query(
            state.prometheus_url, 'sum(rate(http_requests_total{colour="blue"}[10s])) > 0'
        )
        if colours == {"blue", "green"} and {"bg_blue", "bg_green"} <= proxies and traffic:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"Prometheus never saw both fleets, HAProxy and blue's traffic: {colours}")

    # The metrics source, built from the generated config, reads the lab.
    sample = PrometheusMetrics(metrics, BackendContext(service="lab")).sample()
    assert sample[Colour.BLUE].rate and sample[Colour.BLUE].rate > 0
    assert sample[Colour.GREEN].sessions == 0.0  # HAProxy's bg_green, through sessions_backends

    # Notifications go to the lab's own receiver: `bluegreen notify-test` lands in its file.
    assert config["notify"]["urls_file"] == str(lab_dir / "notify-urls")
    sent = bluegreen("notify-test", "--config", str(lab_dir / "console.toml"))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    received = (lab_dir / "notifications.jsonl").read_text().splitlines()
    assert len(received) == 1 and json.loads(received[0])["path"] == "/lab"
    assert "test" in json.dumps(json.loads(received[0])["body"]).lower()

    # Up again: refused, nothing started twice.
    again = bluegreen("lab", "up", "--dir", str(lab_dir), "--no-install")
    assert again.returncode == 1 and "already up" in again.stderr

    st = bluegreen("lab", "status", "--dir", str(lab_dir), "--json")
    assert st.returncode == 0, st.stderr
    info = json.loads(st.stdout)
    assert info["up"] is True and info["live"] == "blue"

    # A fault changes the green fleet (and only green).
    fault = bluegreen("lab", "fault", "green", "--error-rate", "0.5", "--dir", str(lab_dir))
    assert fault.returncode == 0, fault.stderr
    assert "green-1: error_rate=0.5" in fault.stdout and "blue" not in fault.stdout
    green_codes = [get(i["url"] + "/")[0] for i in state.instances("green") for _ in range(20)]
    assert green_codes.count(500) > 0, green_codes  # P(no 500 in 40 at 50 %) ~ 1e-12
    blue_codes = [get(i["url"] + "/")[0] for i in state.instances("blue") for _ in range(10)]
    assert set(blue_codes) == {200}

    reset = bluegreen("lab", "fault", "--reset", "--dir", str(lab_dir))
    assert reset.returncode == 0, reset.stderr
    green_codes = [get(i["url"] + "/")[0] for i in state.instances("green") for _ in range(20)]
    assert set(green_codes) == {200}

    # Down: every recorded process gone, state removed, ports closed.
    down_leaves_nothing(lab_dir, state)
    again = bluegreen("lab", "status", "--dir", str(lab_dir))
    assert again.returncode == 1 and "no lab in" in again.stderr
